/* Tests for the generic store (store.c, store-list.c): locations, the
 * namespace rules of RFC 9051 §6.3.4-6.3.6, subscriptions in Dovecot's
 * format, special-use folders. */
#include <criterion/criterion.h>

#include "store-util.h"

Test(store, placeholder)
{
}
