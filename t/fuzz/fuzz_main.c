/* fuzz_main.c: runs a libFuzzer entry point over a seed corpus as TAP, so make check exercises it without libFuzzer */
#include "config.h"

#include <dirent.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEED (1 << 20)

static int
run_file(int i, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (f == NULL) {
		printf("not ok %d - %s: cannot open\n", i, path);
		return 1;
	}
	buf = malloc(MAX_SEED);
	if (buf == NULL)
		abort();
	n = fread(buf, 1, MAX_SEED, f);
	fclose(f);
	/* a bug aborts (sanitizers) or crashes: the TAP driver reports it */
	LLVMFuzzerTestOneInput(buf, n);
	/* every prefix too: truncated input is where parsers break */
	if (n <= 4096) {
		size_t k;

		for (k = 0; k < n; k++)
			LLVMFuzzerTestOneInput(buf, k);
	}
	free(buf);
	printf("ok %d - %s\n", i, path);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file in dir, sorted, as TAP; returns the number that failed. */
static int
run_dir(const char *dir)
{
	char *names[4096];
	struct dirent *e;
	int i, n = 0, bad = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		printf("1..1\nnot ok 1 - corpus %s missing\n", dir);
		return 1;
	}
	while ((e = readdir(d)) != NULL && n < 4096) {
		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0)
			abort();
		n++;
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		bad += run_file(i + 1, names[i]);
		free(names[i]);
	}
	return bad;
}

/*
 * fuzz_x_seeds [CORPUS_DIR | FILE...]: without arguments the corpus the
 * build names (FUZZ_CORPUS_DIR), so make check can run it bare.
 */
int
main(int argc, char **argv)
{
	struct stat st;
	int i, bad = 0;

	if (argc > 1 && (argc > 2 || stat(argv[1], &st) != 0 ||
	    !S_ISDIR(st.st_mode))) {
		printf("1..%d\n", argc - 1);
		for (i = 1; i < argc; i++)
			bad += run_file(i, argv[i]);
		return bad != 0;
	}
#ifdef FUZZ_CORPUS_DIR
	if (argc == 1)
		return run_dir(FUZZ_CORPUS_DIR) != 0;
#endif
	if (argc == 1) {
		fprintf(stderr, "usage: %s CORPUS_DIR | FILE...\n", argv[0]);
		return 64;
	}
	return run_dir(argv[1]) != 0;
}
