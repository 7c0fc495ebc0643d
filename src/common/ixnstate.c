#include "common/ixnstate.h"

#include <string.h>

const char *cc_ixn_state_name(int state)
{
    switch (state) {
#define CC_IXN_STATE_CASE(name, value, wire)                                                       \
    case value: return wire;
        CC_IXN_STATE_MAP(CC_IXN_STATE_CASE)
#undef CC_IXN_STATE_CASE
    }
    return "Unknown";
}

int cc_ixn_state_parse(const char *name)
{
#define CC_IXN_STATE_CMP(sym, value, wire)                                                         \
    if (strcmp(name, wire) == 0)                                                                   \
        return value;
    CC_IXN_STATE_MAP(CC_IXN_STATE_CMP)
#undef CC_IXN_STATE_CMP
    return -1;
}
