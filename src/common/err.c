#include "common/err.h"

const char *cc_err_name(int err)
{
    switch (err) {
#define CC_ERR_CASE(name, value, wire)                                                             \
    case value: return wire;
        CC_ERR_MAP(CC_ERR_CASE)
#undef CC_ERR_CASE
    default: return "Unknown";
    }
}

int cc_err_wire_code(int err)
{
    if (err <= -1 && err >= -14)
        return -err;
    return 14;
}

const char *cc_err_wire_name(int err)
{
    return cc_err_name(-cc_err_wire_code(err));
}
