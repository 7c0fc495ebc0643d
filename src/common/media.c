#include "common/media.h"

#include <assert.h>
#include <string.h>

#include "common/err.h"

bool cc_media_name_valid(const char *name, size_t len)
{
    if (len < 1 || len > CC_MEDIA_NAME_MAX)
        return false;
    if (name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

void cc_media_init(cc_media_table *t)
{
    memset(t, 0, sizeof *t);
}

int cc_media_find(const cc_media_table *t, const char *name, size_t len)
{
    for (int i = 0; i < t->count; i++)
        if (strlen(t->names[i]) == len && memcmp(t->names[i], name, len) == 0)
            return i;
    return CC_E_NOT_FOUND;
}

int cc_media_intern(cc_media_table *t, const char *name, size_t len)
{
    if (!cc_media_name_valid(name, len))
        return CC_E_INVALID_ATTRIBUTE;
    int id = cc_media_find(t, name, len);
    if (id >= 0)
        return id;
    if (t->count >= CC_MEDIA_MAX)
        return CC_E_LIMIT_EXCEEDED;
    memcpy(t->names[t->count], name, len);
    t->names[t->count][len] = '\0';
    return t->count++;
}

const char *cc_media_name(const cc_media_table *t, int id)
{
    assert(id >= 0 && id < t->count);
    return t->names[id];
}
