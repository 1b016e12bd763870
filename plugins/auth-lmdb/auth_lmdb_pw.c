/* auth_lmdb_pw.c: crypt(3) hashes: new, imported, and login checks */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth_lmdb_priv.h"
#include "util.h"

_Static_assert(AUTH_LMDB_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
    "crypt_r must be able to hash the longest password we accept");

/*
 * Scheme names as Dovecot writes them in "{SCHEME}hash".  CRYPT means
 * "whatever crypt(3) understands", so it accepts every scheme we do.
 */
static const struct {
	const char *name;
	const char *prefixes[8];
} schemes[] = {
	{ "SHA512-CRYPT", { "$6$", NULL } },
	{ "SHA256-CRYPT", { "$5$", NULL } },
	{ "BLF-CRYPT", { "$2a$", "$2b$", "$2y$", NULL } },
	{ "CRYPT", { "$y$", "$6$", "$5$", "$2a$", "$2b$", "$2y$", NULL } },
};

static bool
is_b64(char c)
{
	/* crypt(3)'s alphabet: ./0-9A-Za-z */
	return c == '.' || c == '/' || (c >= '0' && c <= '9') ||
	    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
all_b64(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_b64(s[i]))
			return false;
	return true;
}

/* "$6$[rounds=N$]salt$digest" (and $5$): salt 0..16, digest 86 or 43 */
static bool
sha_crypt_ok(const char *h, size_t digest_len)
{
	const char *p = h + 3, *end;

	if (strncmp(p, "rounds=", 7) == 0) {
		char *num_end;
		unsigned long r;

		if (p[7] < '0' || p[7] > '9')
			return false;
		errno = 0;
		r = strtoul(p + 7, &num_end, 10);
		if (errno != 0 || *num_end != '$' || r < 1000 ||
		    r > 999999999)
			return false;
		p = num_end + 1;
	}
	end = strchr(p, '$');
	if (end == NULL || end - p > 16 || !all_b64(p, (size_t)(end - p)))
		return false;
	return strlen(end + 1) == digest_len &&
	    all_b64(end + 1, digest_len);
}

/* "$2b$NN$" + 22 salt + 31 digest = 60 */
static bool
bcrypt_ok(const char *h)
{
	if (strlen(h) != 60 || h[6] != '$')
		return false;
	if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' ||
	    (h[4] - '0') * 10 + (h[5] - '0') < 4 ||
	    (h[4] - '0') * 10 + (h[5] - '0') > 31)
		return false;
	return all_b64(h + 7, 53);
}

/* "$y$params$salt$digest": params and salt non-empty, digest 43 */
static bool
yescrypt_ok(const char *h)
{
	const char *params = h + 3, *salt, *digest;

	salt = strchr(params, '$');
	if (salt == NULL || salt == params ||
	    !all_b64(params, (size_t)(salt - params)))
		return false;
	salt++;
	digest = strchr(salt, '$');
	if (digest == NULL || digest == salt ||
	    !all_b64(salt, (size_t)(digest - salt)))
		return false;
	digest++;
	return strlen(digest) == 43 && all_b64(digest, 43);
}

static bool
hash_well_formed(const char *h)
{
	if (strlen(h) > AUTH_LMDB_HASH_MAX)
		return false;
	if (strncmp(h, "$6$", 3) == 0)
		return sha_crypt_ok(h, 86);
	if (strncmp(h, "$5$", 3) == 0)
		return sha_crypt_ok(h, 43);
	if (strncmp(h, "$2a$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 ||
	    strncmp(h, "$2y$", 4) == 0)
		return bcrypt_ok(h);
	if (strncmp(h, "$y$", 3) == 0)
		return yescrypt_ok(h);
	return false;
}

int
auth_lmdb_hash_import(const char *in, char *out, size_t out_size,
    const char **error_r)
{
	const char *dummy, *hash = in;
	size_t i, j;

	if (error_r == NULL)
		error_r = &dummy;
	if (in[0] == '{') {
		const char *close = strchr(in, '}');
		size_t name_len;
		bool known = false, matches = false;

		if (close == NULL) {
			*error_r = "unterminated {SCHEME} prefix";
			return -EINVAL;
		}
		name_len = (size_t)(close - in - 1);
		hash = close + 1;
		for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
			if (strlen(schemes[i].name) != name_len ||
			    !util_memcaseeq(schemes[i].name, in + 1, name_len))
				continue;
			known = true;
			for (j = 0; schemes[i].prefixes[j] != NULL; j++)
				if (strncmp(hash, schemes[i].prefixes[j],
				    strlen(schemes[i].prefixes[j])) == 0)
					matches = true;
		}
		if (!known) {
			*error_r = "unsupported password scheme (use "
			    "SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT or CRYPT "
			    "with a yescrypt, SHA-crypt or bcrypt hash)";
			return -EINVAL;
		}
		if (!matches) {
			*error_r = "the {SCHEME} prefix does not match the "
			    "hash that follows it";
			return -EINVAL;
		}
	}
	if (hash[0] != '$') {
		*error_r = "not a crypt(3) hash ($y$, $6$, $5$, $2b$, $2y$)";
		return -EINVAL;
	}
	if (!hash_well_formed(hash)) {
		*error_r = "malformed or unsupported hash (supported: "
		    "yescrypt $y$, SHA512-CRYPT $6$, SHA256-CRYPT $5$, "
		    "BLF-CRYPT $2a$/$2b$/$2y$)";
		return -EINVAL;
	}
	if (strlen(hash) >= out_size) {
		*error_r = "hash too long";
		return -EINVAL;
	}
	strcpy(out, hash);
	return 0;
}

int
auth_lmdb_hash_new(const char *password, char *out, size_t out_size)
{
	struct crypt_data *cd;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	int ret = 0;

	if (password[0] == '\0' ||
	    strnlen(password, AUTH_LMDB_PASSWORD_MAX + 1) >
	    AUTH_LMDB_PASSWORD_MAX)
		return -EINVAL;
	/* count 0: libxcrypt's default cost; NULL entropy: it reads the
	   system's random source itself */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) ==
	    NULL)
		return -EIO;
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return -ENOMEM;
	h = crypt_r(password, setting, cd);
	if (h == NULL || h[0] == '*' || !hash_well_formed(h))
		ret = -EIO;
	else if (strlen(h) >= out_size)
		ret = -ENOBUFS;
	else
		strcpy(out, h);
	util_wipe(cd, sizeof(*cd));
	free(cd);
	return ret;
}

/* Compares all of a and b (same length known not to be secret). */
static bool
ct_equal(const char *a, const char *b, size_t len)
{
	unsigned char diff = 0;
	size_t i;

	for (i = 0; i < len; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool
auth_lmdb_hash_check(const char *password, const char *hash)
{
	struct crypt_data *cd;
	const char *out;
	size_t len = strlen(hash);
	bool ok = false;

	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return false;
	/* an over-long password is still hashed (as the empty string) so
	   that it costs the same as any other failure */
	if (strnlen(password, AUTH_LMDB_PASSWORD_MAX + 1) >
	    AUTH_LMDB_PASSWORD_MAX) {
		(void)crypt_r("", hash, cd);
	} else {
		out = crypt_r(password, hash, cd);
		ok = out != NULL && out[0] != '*' && strlen(out) == len &&
		    ct_equal(out, hash, len);
	}
	util_wipe(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/*
 * An unknown login is hashed against this, so it costs what a real check
 * with the default scheme costs; its password is never told to anyone
 * and a match would be ignored anyway.
 */
int
auth_lmdb_dummy_hash(struct auth_lmdb_db *db)
{
	int ret = 0;

	pthread_mutex_lock(&db->dummy_lock);
	if (!db->has_dummy) {
		ret = auth_lmdb_hash_new("posta dummy password",
		    db->dummy_hash, sizeof(db->dummy_hash));
		db->has_dummy = ret == 0;
	}
	pthread_mutex_unlock(&db->dummy_lock);
	return ret;
}

int
auth_lmdb_verify(struct auth_lmdb_db *db, const char *login,
    const char *password, char *account_r, bool *ok_r, const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char hash[AUTH_LMDB_HASH_MAX + 1];
	const char *dummy;
	MDB_txn *txn;
	MDB_val v;
	bool known = false, disabled = false, match;
	int ret;

	if (error_r == NULL)
		error_r = &dummy;
	*ok_r = false;
	account_r[0] = '\0';
	if (auth_lmdb_address_normalize(login, addr, sizeof(addr),
	    NULL) == 0) {
		ret = auth_lmdb_mdb_begin(db, false, &txn, error_r);
		if (ret < 0)
			return ret;
		/* copy out and end the txn before the slow hash: a read txn
		   held across it would pin old pages for nothing */
		ret = auth_lmdb_mdb_get(txn, db->users, addr, &v, error_r);
		if (ret == 0) {
			ret = auth_lmdb_rec_user(&v, hash, sizeof(hash),
			    &disabled);
			if (ret == 0)
				known = true;
			else
				*error_r = "user record is damaged";
		} else if (ret == POSTA_ENOTFOUND) {
			ret = 0;
		}
		auth_lmdb_mdb_end(db, txn);
		if (ret < 0)
			return ret;
	}
	if (!known) {
		ret = auth_lmdb_dummy_hash(db);
		if (ret < 0) {
			*error_r = "cannot compute the dummy password hash";
			return ret;
		}
		strcpy(hash, db->dummy_hash);
	}
	match = auth_lmdb_hash_check(password, hash);
	util_wipe(hash, sizeof(hash));
	if (known && !disabled && match) {
		strcpy(account_r, addr);
		*ok_r = true;
	}
	return 0;
}
