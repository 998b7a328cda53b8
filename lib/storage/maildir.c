/*
 * maildir: the Maildir++ backend (store-private.h). (Skeleton.)
 */
#include "storage/store-private.h"

const struct store_backend maildir_backend = {
	.name = "maildir",
	.kind = STORE_MAILDIR,
};
