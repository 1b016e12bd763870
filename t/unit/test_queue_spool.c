/* test_queue_spool.c: spool format, journal, commit and recovery */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <posta/posta.h>

#include "queue_spool.h"

static const char *const ID = "0006123456789abc0123abcd";

static void
env_sample(struct qspool_env *env)
{
	memset(env, 0, sizeof(*env));
	memcpy(env->id, ID, QSPOOL_ID_LEN + 1);
	env->created = 1767225600;
	env->sender = strdup("alice@example.com");
	env->envid = strdup("env id%with-\"odd\" bytes\x7f");
	env->ret = QSPOOL_RET_HDRS;
	env->smtputf8 = true;
	env->auth_user = strdup("alice@example.com");
	env->client = strdup("[192.0.2.1]");
	env->size = 1234;
	env->n_rcpts = 3;
	env->rcpts = calloc(3, sizeof(*env->rcpts));
	assert_non_null(env->rcpts);
	env->rcpts[0].address = strdup("bob@example.net");
	env->rcpts[0].notify = 6;
	env->rcpts[0].orcpt = strdup("rfc822;bob@example.net");
	env->rcpts[1].address = strdup("\"odd guy\"@example.org");
	env->rcpts[2].address = strdup("-");
	env->rcpts[2].resolve = true;
}

static void
env_equal(const struct qspool_env *a, const struct qspool_env *b)
{
	size_t i;

	assert_string_equal(a->id, b->id);
	assert_int_equal(a->created, b->created);
	assert_string_equal(a->sender, b->sender);
	assert_string_equal(a->envid, b->envid);
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->eightbit, b->eightbit);
	assert_string_equal(a->auth_user, b->auth_user);
	assert_string_equal(a->client, b->client);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->n_rcpts, b->n_rcpts);
	for (i = 0; i < a->n_rcpts; i++) {
		const struct qspool_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

		assert_string_equal(x->address, y->address);
		assert_int_equal(x->notify, y->notify);
		assert_int_equal(x->resolve, y->resolve);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_int_equal(x->next_try, y->next_try);
		assert_string_equal(x->status, y->status);
		if (x->orcpt == NULL)
			assert_null(y->orcpt);
		else
			assert_string_equal(x->orcpt, y->orcpt);
		if (x->diag == NULL)
			assert_null(y->diag);
		else
			assert_string_equal(x->diag, y->diag);
	}
}

static void
test_format_parse_roundtrip(void **state)
{
	struct qspool_env env, back;
	struct qspool_event ev;
	const char *err;
	char *text;
	size_t len;

	env_sample(&env);
	memset(&ev, 0, sizeof(ev));
	ev.kind = 'T';
	ev.rcpt = 0;
	ev.when = 1767225700;
	ev.attempts = 2;
	ev.next_try = 1767226000;
	ev.status = "4.2.0";
	ev.remote = "mx1.example.net";
	ev.diag = "451 4.2.0 try\r\nlater %";
	assert_int_equal(qspool_env_apply(&env, &ev), 0);
	ev.kind = 'F';
	ev.rcpt = 1;
	ev.status = "5.1.1";
	ev.diag = "550 no";
	assert_int_equal(qspool_env_apply(&env, &ev), 0);
	ev.kind = 'B';
	assert_int_equal(qspool_env_apply(&env, &ev), 0);
	ev.kind = 'D';
	ev.rcpt = 2;
	ev.status = "2.0.0";
	ev.remote = NULL;
	ev.diag = NULL;
	assert_int_equal(qspool_env_apply(&env, &ev), 0);
	assert_int_equal(qspool_env_format(&env, &text, &len), 0);
	assert_int_equal(qspool_env_parse(text, len, &back, &err), 0);
	env_equal(&env, &back);
	assert_int_equal(back.rcpts[1].state, QSPOOL_BOUNCED);
	/* the escaped diagnostic keeps its CR LF and percent */
	assert_string_equal(back.rcpts[0].diag, "451 4.2.0 try\r\nlater %");
	/* the file holds no raw control bytes but the line ends */
	{
		size_t i;

		for (i = 0; i < len; i++)
			assert_true(text[i] == '\n' ||
			    (unsigned char)text[i] >= 0x20);
	}
	free(text);
	qspool_env_clear(&back);
	qspool_env_clear(&env);
}

static void
test_journal_and_torn_line(void **state)
{
	struct qspool_env env, back;
	struct qspool_event ev;
	const char *err;
	char *text, *full;
	char line[QSPOOL_LINE_MAX];
	size_t len, ll = 0, cut;

	env_sample(&env);
	assert_int_equal(qspool_env_format(&env, &text, &len), 0);
	memset(&ev, 0, sizeof(ev));
	ev.kind = 'D';
	ev.rcpt = 0;
	ev.when = 5;
	ev.status = "2.0.0";
	ev.remote = "mx.example.net";
	ev.diag = "250 ok id=1";
	assert_int_equal(qspool_journal_line(&ev, line, sizeof(line), &ll), 0);
	full = malloc(len + ll);
	assert_non_null(full);
	memcpy(full, text, len);
	memcpy(full + len, line, ll);
	assert_int_equal(qspool_env_parse(full, len + ll, &back, &err), 0);
	assert_int_equal(back.rcpts[0].state, QSPOOL_DONE);
	qspool_env_clear(&back);
	/* every cut inside the journal line: the event never happened */
	for (cut = len; cut < len + ll; cut++) {
		assert_int_equal(qspool_env_parse(full, cut, &back, &err), 0);
		assert_int_equal(back.rcpts[0].state, QSPOOL_PENDING);
		qspool_env_clear(&back);
	}
	/* every cut inside the header: corrupt, never a crash */
	for (cut = 0; cut < len; cut++) {
		int r = qspool_env_parse(full, cut, &back, &err);

		assert_int_equal(r, POSTA_ECORRUPT);
		assert_non_null(err);
		qspool_env_clear(&back);
	}
	/* too small a buffer: nothing appended */
	ll = 0;
	assert_int_equal(qspool_journal_line(&ev, line, 10, &ll), -ENOSPC);
	assert_int_equal(ll, 0);
	free(full);
	free(text);
	qspool_env_clear(&env);
}

static void
test_corrupt_inputs(void **state)
{
	static const char *const bad[] = {
		"",
		"POSTA-QUEUE 2\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\nend\n",
		"POSTA-QUEUE 1\nid xyz\ncreated 1\nsender -\nsize 1\n"
		    "R 0 e - a@b\nend\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "sender -\nsize 1\nR 0 e - a@b\nR 0 x - a@b\nend\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "created 2\nsender -\nsize 1\nR 0 e - a@b\nend\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "sender -\nsize 1\nR 0 e - a@b\nend\nD 1 5 2.0.0 - -\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "sender -\nsize 1\nR 0 e - a@b\nend\nD 0 5 9.9.9 - -\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "sender -\nsize 1\nR 0 e - a@b\nend\nB 0 5\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "sender -\nsize 1\nR 0 e - a%00b\nend\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "sender -\nsize 1\nR 0 e - a%zzb\nend\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 01\n"
		    "sender -\nsize 1\nR 0 e - a@b\nend\n",
		"POSTA-QUEUE 1\nid 0006123456789abc0123abcd\ncreated 1\n"
		    "sender -\nsize 1\nR 0 e - a@b\nend\nD 0 5 2.0.0 - -\n"
		    "T 0 6 1 7 4.0.0 - -\n",
	};
	struct qspool_env env;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = qspool_env_parse(bad[i], strlen(bad[i]), &env, &err);

		if (r != POSTA_ECORRUPT)
			fail_msg("case %zu parsed: %d", i, r);
		qspool_env_clear(&env);
	}
	{
		const char *good = "POSTA-QUEUE 1\nid 0006123456789abc"
		    "0123abcd\ncreated 1\nsender -\nsize 1\nR 0 e - a@b\n"
		    "end\n";

		assert_int_equal(qspool_env_parse(good, strlen(good), &env,
		    &err), 0);
	}
	assert_string_equal(env.sender, "");
	qspool_env_clear(&env);
}

/* ---- files ---- */

static char tmpdir[256];

static int
setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/posta-qspool-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char p[1024];

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		rm_rf(p);
	}
	closedir(d);
	rmdir(path);
}

static int
teardown_dir(void **state)
{
	rm_rf(tmpdir);
	return 0;
}

static bool
exists(const char *sub, const char *id, const char *ext)
{
	char p[1024];
	struct stat st;

	qspool_path(p, sizeof(p), tmpdir, sub, id, ext);
	return stat(p, &st) == 0;
}

static void
commit_one(struct qspool_env *env, const char *body)
{
	int fd;

	assert_int_equal(qspool_new_id(env->id), 0);
	assert_true(qspool_id_valid(env->id));
	assert_int_equal(qspool_msg_create(tmpdir, env->id, &fd), 0);
	assert_int_equal(qspool_write_all(fd, body, strlen(body)), 0);
	env->size = strlen(body);
	assert_int_equal(qspool_commit(tmpdir, env, fd, -1, -1), 0);
	close(fd);
}

static void
test_commit_journal_remove(void **state)
{
	struct qspool_env env, back;
	struct qspool_event ev;
	char line[QSPOOL_LINE_MAX], (*ids)[QSPOOL_ID_LEN + 1];
	const char *err;
	size_t n, ll = 0;

	assert_int_equal(qspool_open(tmpdir, true), 0);
	env_sample(&env);
	commit_one(&env, "Subject: x\r\n\r\nbody\r\n");
	assert_true(exists("q", env.id, ".msg"));
	assert_true(exists("q", env.id, ".env"));
	assert_false(exists("tmp", env.id, ".msg"));
	memset(&ev, 0, sizeof(ev));
	ev.kind = 'F';
	ev.rcpt = 1;
	ev.when = 9;
	ev.status = "5.1.1";
	ev.diag = "550 no";
	assert_int_equal(qspool_journal_line(&ev, line, sizeof(line), &ll), 0);
	ev.kind = 'B';
	assert_int_equal(qspool_journal_line(&ev, line, sizeof(line), &ll), 0);
	assert_int_equal(qspool_journal_append(tmpdir, env.id, line, ll), 0);
	assert_int_equal(qspool_env_load(tmpdir, env.id, &back, &err), 0);
	assert_int_equal(back.rcpts[1].state, QSPOOL_BOUNCED);
	assert_int_equal(back.size, 20);
	/* compaction keeps every state */
	assert_int_equal(qspool_env_rewrite(tmpdir, &back), 0);
	qspool_env_clear(&back);
	assert_int_equal(qspool_env_load(tmpdir, env.id, &back, &err), 0);
	assert_int_equal(back.rcpts[1].state, QSPOOL_BOUNCED);
	assert_string_equal(back.rcpts[1].diag, "550 no");
	qspool_env_clear(&back);
	assert_int_equal(qspool_scan(tmpdir, &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], env.id);
	free(ids);
	assert_int_equal(qspool_remove(tmpdir, env.id), 0);
	assert_false(exists("q", env.id, ".env"));
	assert_false(exists("q", env.id, ".msg"));
	assert_int_equal(qspool_env_load(tmpdir, env.id, &back, &err),
	    -ENOENT);
	qspool_env_clear(&back);
	qspool_env_clear(&env);
}

static void
write_file(const char *sub, const char *id, const char *ext, const char *s)
{
	char p[1024];
	int fd;

	qspool_path(p, sizeof(p), tmpdir, sub, id, ext);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(qspool_write_all(fd, s, strlen(s)), 0);
	close(fd);
}

static void
test_recovery(void **state)
{
	struct qspool_env a, b;
	char (*ids)[QSPOOL_ID_LEN + 1];
	const char *err;
	size_t n;

	assert_int_equal(qspool_open(tmpdir, false), 0);
	env_sample(&a);
	env_sample(&b);
	commit_one(&a, "one\r\n");
	commit_one(&b, "two\r\n");
	/* a crash mid-submission: tmp files, and a .msg renamed without
	   its envelope (never acknowledged) */
	write_file("tmp", "00000000000000000000aaaa", ".msg", "half");
	write_file("tmp", "00000000000000000000aaaa", ".env", "POSTA");
	write_file("q", "00000000000000000000bbbb", ".msg", "orphan");
	/* a removal cut short after the envelope went */
	assert_int_equal(qspool_open(tmpdir, true), 0);
	assert_false(exists("tmp", "00000000000000000000aaaa", ".msg"));
	assert_false(exists("tmp", "00000000000000000000aaaa", ".env"));
	assert_false(exists("q", "00000000000000000000bbbb", ".msg"));
	assert_true(exists("q", a.id, ".msg"));
	assert_true(exists("q", b.id, ".msg"));
	assert_int_equal(qspool_scan(tmpdir, &ids, &n), 0);
	assert_int_equal(n, 2);
	free(ids);
	/* a damaged envelope is set aside, the other stays */
	write_file("q", a.id, ".env", "garbage\n");
	{
		struct qspool_env x;

		assert_int_equal(qspool_env_load(tmpdir, a.id, &x, &err),
		    POSTA_ECORRUPT);
		qspool_env_clear(&x);
	}
	assert_int_equal(qspool_set_aside(tmpdir, a.id), 0);
	assert_true(exists("corrupt", a.id, ".env"));
	assert_true(exists("corrupt", a.id, ".msg"));
	assert_int_equal(qspool_scan(tmpdir, &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], b.id);
	free(ids);
	qspool_env_clear(&a);
	qspool_env_clear(&b);
}

static void
test_read_error_not_corrupt(void **state)
{
	static const char id[] = "00000000000000000000cccc";
	struct qspool_env x;
	const char *err;
	char p[1024];

	assert_int_equal(qspool_open(tmpdir, false), 0);
	/* a read that fails (as EIO would) says nothing of the contents:
	   it must not come back as POSTA_ECORRUPT, which sets files aside */
	qspool_path(p, sizeof(p), tmpdir, "q", id, ".env");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(qspool_env_load(tmpdir, id, &x, &err), -EISDIR);
	qspool_env_clear(&x);
}

static void
test_requests(void **state)
{
	struct qspool_req *reqs;
	size_t n, i;
	bool flush_all = false, del = false, fl_id = false, newr = false;

	assert_int_equal(qspool_open(tmpdir, false), 0);
	assert_int_equal(qspool_request(tmpdir, "flush", NULL, -1, -1), 0);
	assert_int_equal(qspool_request(tmpdir, "flush", ID, -1, -1), 0);
	assert_int_equal(qspool_request(tmpdir, "delete", ID, -1, -1), 0);
	assert_int_equal(qspool_request(tmpdir, "new", NULL, -1, -1), 0);
	assert_int_equal(qspool_request(tmpdir, "delete", NULL, -1, -1),
	    -EINVAL);
	assert_int_equal(qspool_request(tmpdir, "rm", NULL, -1, -1), -EINVAL);
	assert_int_equal(qspool_request(tmpdir, "flush", "../x", -1, -1),
	    -EINVAL);
	write_file("ctl", "junk", NULL, "");
	write_file("ctl", "delete.notanid", NULL, "");
	assert_int_equal(qspool_take_requests(tmpdir, &reqs, &n), 0);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		if (strcmp(reqs[i].what, "flush") == 0 && reqs[i].id[0] == 0)
			flush_all = true;
		if (strcmp(reqs[i].what, "flush") == 0 &&
		    strcmp(reqs[i].id, ID) == 0)
			fl_id = true;
		if (strcmp(reqs[i].what, "delete") == 0 &&
		    strcmp(reqs[i].id, ID) == 0)
			del = true;
		if (strcmp(reqs[i].what, "new") == 0)
			newr = true;
	}
	assert_true(flush_all && fl_id && del && newr);
	free(reqs);
	/* taken means gone, junk included */
	assert_int_equal(qspool_take_requests(tmpdir, &reqs, &n), 0);
	assert_int_equal(n, 0);
	free(reqs);
}

static void
append_raw(const char *id, const char *s)
{
	char p[1024];
	int fd;

	qspool_path(p, sizeof(p), tmpdir, "q", id, ".env");
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(qspool_write_all(fd, s, strlen(s)), 0);
	close(fd);
}

/* A crash tore the last journal line; the daemon restarts and goes on
   appending: the torn bytes must not glue onto the next line and make
   the whole envelope unreadable (set aside, never delivered). */
static void
test_append_after_torn_line(void **state)
{
	struct qspool_env env, back;
	struct qspool_event ev;
	char line[QSPOOL_LINE_MAX];
	const char *err;
	size_t ll = 0;

	assert_int_equal(qspool_open(tmpdir, false), 0);
	env_sample(&env);
	commit_one(&env, "body\r\n");
	append_raw(env.id, "T 0 1767225601 1 1767225901 4.4.1 - no%20answer\n"
	    "D 1 17672256");
	/* what a restart reads: the torn line never happened */
	assert_int_equal(qspool_env_load(tmpdir, env.id, &back, &err), 0);
	assert_int_equal(back.rcpts[0].attempts, 1);
	assert_int_equal(back.rcpts[1].state, QSPOOL_PENDING);
	qspool_env_clear(&back);
	memset(&ev, 0, sizeof(ev));
	ev.kind = 'D';
	ev.rcpt = 1;
	ev.when = 1767225700;
	ev.status = "2.0.0";
	ev.remote = "mx.example.org";
	ev.diag = "250 ok";
	assert_int_equal(qspool_journal_line(&ev, line, sizeof(line), &ll), 0);
	assert_int_equal(qspool_journal_append(tmpdir, env.id, line, ll), 0);
	err = NULL;
	assert_int_equal(qspool_env_load(tmpdir, env.id, &back, &err), 0);
	assert_null(err);
	assert_int_equal(back.rcpts[0].attempts, 1);
	assert_int_equal(back.rcpts[1].state, QSPOOL_DONE);
	assert_string_equal(back.rcpts[1].diag, "250 ok");
	qspool_env_clear(&back);
	/* and a file whose journal is whole is left alone */
	ev.rcpt = 0;
	ll = 0;
	assert_int_equal(qspool_journal_line(&ev, line, sizeof(line), &ll), 0);
	assert_int_equal(qspool_journal_append(tmpdir, env.id, line, ll), 0);
	assert_int_equal(qspool_env_load(tmpdir, env.id, &back, &err), 0);
	assert_int_equal(back.rcpts[0].state, QSPOOL_DONE);
	assert_int_equal(back.rcpts[1].state, QSPOOL_DONE);
	qspool_env_clear(&back);
	qspool_env_clear(&env);
}

/* An envelope that could not be read back must not be written. */
static void
test_too_many_rcpts(void **state)
{
	struct qspool_env env;
	char *text = NULL;
	size_t len, i;

	env_sample(&env);
	for (i = 0; i < env.n_rcpts; i++)
		free(env.rcpts[i].address), free(env.rcpts[i].orcpt);
	free(env.rcpts);
	env.n_rcpts = QSPOOL_RCPTS_MAX + 1;
	env.rcpts = calloc(env.n_rcpts, sizeof(*env.rcpts));
	assert_non_null(env.rcpts);
	for (i = 0; i < env.n_rcpts; i++) {
		env.rcpts[i].address = strdup("r@example.net");
		assert_non_null(env.rcpts[i].address);
	}
	assert_int_equal(qspool_env_format(&env, &text, &len), -EINVAL);
	assert_null(text);
	env.n_rcpts = QSPOOL_RCPTS_MAX;
	assert_int_equal(qspool_env_format(&env, &text, &len), 0);
	{
		struct qspool_env back;
		const char *err;

		assert_int_equal(qspool_env_parse(text, len, &back, &err), 0);
		assert_int_equal(back.n_rcpts, QSPOOL_RCPTS_MAX);
		qspool_env_clear(&back);
	}
	free(text);
	env.n_rcpts = QSPOOL_RCPTS_MAX + 1;
	qspool_env_clear(&env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse_roundtrip),
		cmocka_unit_test(test_journal_and_torn_line),
		cmocka_unit_test(test_corrupt_inputs),
		cmocka_unit_test_setup_teardown(test_commit_journal_remove,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_recovery, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_requests, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_error_not_corrupt,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_append_after_torn_line,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_too_many_rcpts),
	};

	return cmocka_run_group_tests_name("queue_spool", tests, NULL, NULL);
}
