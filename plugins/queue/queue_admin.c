/* queue_admin.c: "posta queue list|show|flush|delete|submit" */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <posta/posta.h>

#include "queue_admin.h"
#include "queue_policy.h"
#include "queue_spool.h"

const char queue_admin_usage[] =
"  queue list\n"
"  queue show ID\n"
"  queue flush [ID]\n"
"  queue delete ID\n"
"  queue submit --from ADDRESS --to ADDRESS [--to ADDRESS...] < MESSAGE\n";

/* A message larger than this is refused by "submit". */
#define QADMIN_SUBMIT_MAX	(64u << 20)

static int
qadmin_sys(const char *what, int err)
{
	fprintf(stderr, "posta: queue: %s: %s\n", what, posta_strerror(err));
	return 3;
}

/* The files posta(8) writes belong to whoever owns the spool (postad's
   user), or postad could not read or remove them. */
static void
qadmin_owner(const char *dir, int64_t *uid_r, int64_t *gid_r)
{
	struct stat st;

	*uid_r = *gid_r = -1;
	if (geteuid() == 0 && stat(dir, &st) == 0 && st.st_uid != 0) {
		*uid_r = st.st_uid;
		*gid_r = st.st_gid;
	}
}

static const char *
qadmin_state(const struct qspool_rcpt *r)
{
	switch (r->state) {
	case QSPOOL_DONE:
		return "delivered";
	case QSPOOL_FAILED:
		return "failed";
	case QSPOOL_BOUNCED:
		return "bounced";
	default:
		return r->attempts > 0 ? "deferred" : "pending";
	}
}

static void
qadmin_rcpt(const struct qspool_rcpt *r, int64_t now)
{
	printf("    %-9s %s", qadmin_state(r), r->address);
	if (r->state == QSPOOL_PENDING && r->attempts > 0)
		printf(" attempts=%" PRIu32 " retry_in=%" PRId64 "s",
		    r->attempts, r->next_try > now ? r->next_try - now : 0);
	if (r->status[0] != '\0')
		printf(" status=%s", r->status);
	if (r->remote != NULL)
		printf(" remote=%s", r->remote);
	if (r->diag != NULL && r->state != QSPOOL_DONE)
		printf(" (%s)", r->diag);
	putchar('\n');
}

static int
qadmin_list(const char *dir)
{
	char (*ids)[QSPOOL_ID_LEN + 1] = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t n = 0, i, j, shown = 0;
	int r;

	r = qspool_scan(dir, &ids, &n);
	if (r == -ENOENT) {
		printf("0 messages\n");	/* postad never ran a queue */
		return 0;
	}
	if (r < 0)
		return qadmin_sys(dir, r);
	for (i = 0; i < n; i++) {
		struct qspool_env env;
		const char *why;

		r = qspool_env_load(dir, ids[i], &env, &why);
		if (r < 0) {
			/* delivered and removed since the scan, or damaged */
			if (r != -ENOENT)
				printf("%s  unreadable (%s)\n", ids[i],
				    why != NULL ? why : posta_strerror(r));
			qspool_env_clear(&env);
			continue;
		}
		printf("%s  age=%" PRId64 "s size=%" PRIu64 " from=<%s> "
		    "rcpts=%zu\n", env.id, now - env.created, env.size,
		    env.sender, env.n_rcpts);
		for (j = 0; j < env.n_rcpts; j++)
			qadmin_rcpt(&env.rcpts[j], now);
		qspool_env_clear(&env);
		shown++;
	}
	printf("%zu message%s\n", shown, shown == 1 ? "" : "s");
	free(ids);
	return 0;
}

static int
qadmin_show(const char *dir, const char *id)
{
	struct qspool_env env;
	char path[4096], line[1000];
	int64_t now = (int64_t)time(NULL);
	const char *why;
	size_t j;
	FILE *f;
	int r;

	if (!qspool_id_valid(id)) {
		fprintf(stderr, "posta: queue: '%s' is not a queue id\n", id);
		return 2;
	}
	r = qspool_env_load(dir, id, &env, &why);
	if (r == -ENOENT) {
		fprintf(stderr, "posta: queue: no message %s\n", id);
		return 2;
	}
	if (r < 0) {
		qspool_env_clear(&env);
		fprintf(stderr, "posta: queue: %s: %s\n", id,
		    why != NULL ? why : posta_strerror(r));
		return 3;
	}
	printf("id: %s\nage: %" PRId64 "s\nsize: %" PRIu64 "\nfrom: <%s>\n",
	    env.id, now - env.created, env.size, env.sender);
	if (env.auth_user != NULL)
		printf("auth: %s\n", env.auth_user);
	if (env.client != NULL)
		printf("client: %s\n", env.client);
	if (env.envid != NULL)
		printf("envid: %s\n", env.envid);
	printf("recipients:\n");
	for (j = 0; j < env.n_rcpts; j++)
		qadmin_rcpt(&env.rcpts[j], now);
	qspool_env_clear(&env);
	if (qspool_path(path, sizeof(path), dir, "q", id, ".msg") == 0 &&
	    (f = fopen(path, "r")) != NULL) {
		printf("header:\n");
		while (fgets(line, sizeof(line), f) != NULL) {
			size_t l = strcspn(line, "\r\n");

			if (l == 0)
				break;
			printf("  %.*s\n", (int)l, line);
		}
		fclose(f);
	}
	return 0;
}

static int
qadmin_request(const char *dir, const char *what, const char *id)
{
	int64_t uid, gid;
	struct stat st;
	char path[4096];
	int r;

	if (id != NULL) {
		if (!qspool_id_valid(id)) {
			fprintf(stderr, "posta: queue: '%s' is not a queue "
			    "id\n", id);
			return 2;
		}
		if (qspool_path(path, sizeof(path), dir, "q", id, ".env") < 0 ||
		    stat(path, &st) < 0) {
			fprintf(stderr, "posta: queue: no message %s\n", id);
			return 2;
		}
	}
	qadmin_owner(dir, &uid, &gid);
	r = qspool_request(dir, what, id, uid, gid);
	if (r < 0)
		return qadmin_sys("request", r);
	printf("%s requested%s%s\n", what, id != NULL ? " for " : "",
	    id != NULL ? id : "");
	return 0;
}

/* Reads stdin whole, with every bare LF made CRLF. */
static int
qadmin_read_message(char **buf_r, size_t *len_r)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	int c, prev = 0;

	if (buf == NULL)
		return -ENOMEM;
	while ((c = getchar()) != EOF) {
		if (len + 2 > cap) {
			char *nb;

			if (cap >= QADMIN_SUBMIT_MAX) {
				free(buf);
				return -EMSGSIZE;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		if (c == '\n' && prev != '\r')
			buf[len++] = '\r';
		buf[len++] = (char)c;
		prev = c;
	}
	if (len > 0 && buf[len - 1] != '\n') {
		buf[len++] = '\r';
		buf[len++] = '\n';
	}
	*buf_r = buf;
	*len_r = len;
	return 0;
}

static int
qadmin_submit(const char *dir, int argc, char **argv)
{
	struct qspool_env env;
	const char *from = NULL;
	char *data = NULL;
	size_t len = 0;
	int64_t uid, gid;
	int i, r, fd = -1;

	memset(&env, 0, sizeof(env));
	env.rcpts = calloc((size_t)argc, sizeof(*env.rcpts));
	if (env.rcpts == NULL)
		return qadmin_sys("submit", -ENOMEM);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			from = argv[++i];
		} else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc &&
		    strchr(argv[i + 1], '@') != NULL &&
		    qpolicy_addr_sendable(argv[i + 1])) {
			struct qspool_rcpt *rc = &env.rcpts[env.n_rcpts++];

			if (env.n_rcpts > QSPOOL_RCPTS_MAX) {
				fprintf(stderr, "posta: queue submit: at most "
				    "%u recipients\n", QSPOOL_RCPTS_MAX);
				qspool_env_clear(&env);
				return 1;
			}

			rc->address = strdup(argv[++i]);
			if (rc->address == NULL) {
				qspool_env_clear(&env);
				return qadmin_sys("submit", -ENOMEM);
			}
		} else {
			fprintf(stderr, "posta: queue submit: unexpected "
			    "'%s'\n", argv[i]);
			qspool_env_clear(&env);
			return 1;
		}
	}
	if (from == NULL || env.n_rcpts == 0 || (from[0] != '\0' &&
	    strchr(from, '@') == NULL) || !qpolicy_addr_sendable(from)) {
		fprintf(stderr, "posta: queue submit: --from ADDRESS (\"\" "
		    "for <>) and at least one --to ADDRESS are needed\n");
		qspool_env_clear(&env);
		return 1;
	}
	env.sender = strdup(from);
	env.created = (int64_t)time(NULL);
	r = env.sender == NULL ? -ENOMEM : qadmin_read_message(&data, &len);
	if (r == 0) {
		size_t k;

		env.size = len;
		for (k = 0; k < len && !env.eightbit; k++)
			env.eightbit = (unsigned char)data[k] >= 0x80;
		r = qspool_open(dir, false);
	}
	if (r == 0)
		r = qspool_new_id(env.id);
	if (r == 0)
		r = qspool_msg_create(dir, env.id, &fd);
	if (r == 0)
		r = qspool_write_all(fd, data, len);
	qadmin_owner(dir, &uid, &gid);
	if (r == 0)
		r = qspool_commit(dir, &env, fd, uid, gid);
	else if (env.id[0] != '\0')
		qspool_discard(dir, env.id);
	if (fd >= 0)
		close(fd);
	free(data);
	if (r == 0)
		r = qspool_request(dir, "new", NULL, uid, gid);
	if (r < 0) {
		qspool_env_clear(&env);
		return qadmin_sys("submit", r);
	}
	printf("%s\n", env.id);
	qspool_env_clear(&env);
	return 0;
}

int
queue_admin_main(const char *state_dir, int argc, char **argv)
{
	char dir[4096];
	const char *cmd = argc > 0 ? argv[0] : "";

	if ((size_t)snprintf(dir, sizeof(dir), "%s/queue", state_dir) >=
	    sizeof(dir))
		return qadmin_sys(state_dir, -ENAMETOOLONG);
	if (strcmp(cmd, "list") == 0 && argc == 1)
		return qadmin_list(dir);
	if (strcmp(cmd, "show") == 0 && argc == 2)
		return qadmin_show(dir, argv[1]);
	if (strcmp(cmd, "flush") == 0 && (argc == 1 || argc == 2))
		return qadmin_request(dir, "flush", argc == 2 ? argv[1] :
		    NULL);
	if (strcmp(cmd, "delete") == 0 && argc == 2)
		return qadmin_request(dir, "delete", argv[1]);
	if (strcmp(cmd, "submit") == 0)
		return qadmin_submit(dir, argc, argv);
	fprintf(stderr, "usage: posta [--state-dir DIR] queue ...\n%s",
	    queue_admin_usage);
	return 1;
}
