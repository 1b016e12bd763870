/* queue_admin_tool.c: "posta queue" alone, for the tests */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "queue_admin.h"

/*
 * queue-admin --state-dir DIR SUBCOMMAND ...: the integration tests drive
 * the spool with it, so they need neither auth-lmdb's admin command nor
 * an SMTP listener to put mail into the queue.
 */
int
main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[1], "--state-dir") != 0) {
		fprintf(stderr, "usage: queue-admin --state-dir DIR "
		    "SUBCOMMAND ...\n%s", queue_admin_usage);
		return 1;
	}
	return queue_admin_main(argv[2], argc - 3, argv + 3);
}
