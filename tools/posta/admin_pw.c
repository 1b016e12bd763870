/* admin_pw.c: new passwords: no-echo prompt, stdin, or a hash */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "admin.h"
#include "util.h"

/*
 * The terminal settings to restore when a signal interrupts the prompt;
 * a signal handler can only reach them through a static.
 */
static struct termios saved_tio;
static volatile sig_atomic_t echo_off;

static void
restore_and_reraise(int sig)
{
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Reads one line from fd into buf without stdio (no copy of the secret in
 * a stdio buffer).  Returns its length, -1 on a read error, -2 when it
 * does not fit.  The newline (and a CR before it) is dropped.
 */
static long
read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	bool too_long = false;
	char c;
	ssize_t r;

	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = c;
		else
			too_long = true;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return too_long ? -2 : (long)n;
}

static long
prompt(const char *text, char *buf, size_t size)
{
	struct termios tio;
	long n;

	fprintf(stderr, "%s", text);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -1;
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)ECHO;
	tio.c_lflag |= ECHONL;
	echo_off = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) < 0) {
		echo_off = 0;
		return -1;
	}
	n = read_line(STDIN_FILENO, buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	echo_off = 0;
	return n;
}

int
admin_pw_read(bool from_stdin, bool confirm, const char *address, char *buf,
    size_t size)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	char again[AUTH_LMDB_PASSWORD_MAX + 1];
	char text[AUTH_LMDB_ADDRESS_MAX + 32];
	bool same;
	size_t i;
	long n, m;

	if (from_stdin) {
		n = read_line(STDIN_FILENO, buf, size);
		if (n == -1) {
			admin_err("reading the password: %s", strerror(errno));
			return ADMIN_ESYS;
		}
		if (n == -2) {
			admin_err("password longer than %d bytes",
			    AUTH_LMDB_PASSWORD_MAX);
			return ADMIN_EDATA;
		}
		if (n == 0) {
			admin_err("empty password on stdin");
			return ADMIN_EDATA;
		}
		return ADMIN_OK;
	}
	if (!isatty(STDIN_FILENO))
		return admin_usage("no password given: use --password-stdin, "
		    "--hash HASH, or run on a terminal");
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], restore_and_reraise);
	snprintf(text, sizeof(text), "%s for %s: ", confirm ? "New password" :
	    "Password", address);
	n = prompt(text, buf, size);
	if (confirm) {
		m = n >= 0 ? prompt("Retype the password: ", again,
		    sizeof(again)) : n;
		same = n >= 0 && m >= 0 && strcmp(buf, again) == 0;
	} else {
		m = n;
		same = true;
	}
	util_wipe(again, sizeof(again));
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	if (n == -1 || m == -1) {
		admin_err("reading the password: %s", strerror(errno));
		return ADMIN_ESYS;
	}
	if (n == -2 || m == -2) {
		admin_err("password longer than %d bytes",
		    AUTH_LMDB_PASSWORD_MAX);
		return ADMIN_EDATA;
	}
	if (!same) {
		admin_err("the passwords do not match; nothing changed");
		return ADMIN_EDATA;
	}
	if (n == 0) {
		admin_err("empty password; nothing changed");
		return ADMIN_EDATA;
	}
	return ADMIN_OK;
}

int
admin_pw_hash(const char *hash_opt, bool from_stdin, const char *address,
    char *hash_r)
{
	char pw[AUTH_LMDB_PASSWORD_MAX + 1];
	const char *error = "";
	int ret;

	if (hash_opt != NULL) {
		if (from_stdin)
			return admin_usage("--hash and --password-stdin "
			    "exclude each other");
		ret = auth_lmdb_hash_import(hash_opt, hash_r,
		    AUTH_LMDB_HASH_MAX + 1, &error);
		if (ret < 0) {
			admin_err("--hash: %s", error);
			return ADMIN_EDATA;
		}
		return ADMIN_OK;
	}
	ret = admin_pw_read(from_stdin, true, address, pw, sizeof(pw));
	if (ret == ADMIN_OK) {
		ret = auth_lmdb_hash_new(pw, hash_r, AUTH_LMDB_HASH_MAX + 1);
		if (ret < 0) {
			admin_err("hashing the password: %s",
			    posta_strerror(ret));
			ret = ADMIN_ESYS;
		}
	}
	util_wipe(pw, sizeof(pw));
	return ret;
}
