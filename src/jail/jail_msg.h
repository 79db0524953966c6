/* What the sandbox tells its supervisor on the message pipe: one fixed-size
 * message each.  Shared with the freestanding init (src/init/), so it uses
 * nothing but <stdint.h>. */
#pragma once

#include <stdint.h>

enum jail_msg_kind {
        JAIL_MSG_FAIL = 1,    /* setup failed; the child exits */
        JAIL_MSG_EXIT = 2,    /* init: the payload ended with wstatus; init exits */
        JAIL_MSG_PAYLOAD = 3, /* session init: the payload ended with wstatus; init stays */
        JAIL_MSG_INIT = 4,    /* agentbox-init runs (one-shot: so a run killed early knows) */
};

struct jail_msg {
        int32_t kind;
        int32_t step;    /* FAIL */
        int32_t err;     /* FAIL: errno */
        int32_t index;   /* FAIL in MOUNT_OP: which op */
        int32_t wstatus; /* EXIT: the payload's wait status */
        int32_t sealed;  /* EXIT: 1 if it came from agentbox-init (src/init/) */
};
