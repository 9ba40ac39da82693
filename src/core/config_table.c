#include "core/config_table.h"
#include "core/error.h"
#include "core/mem.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_defaults(void *obj, const CfgTable *t) {
    for (int i = 0; i < t->n; i++) {
        const CfgField *f = &t->fields[i];
        void *p = (char *)obj + f->offset;
        if (f->type == CFG_FLOAT)
            *(float *)p = (float)f->def;
        else if (f->type == CFG_U64)
            *(uint64_t *)p = (uint64_t)f->def;
        else
            *(int *)p = (int)f->def;
    }
}

const CfgField *cfg_find(const CfgTable *t, const char *key) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->fields[i].name, key) ||
            (t->fields[i].alias && !strcmp(t->fields[i].alias, key)))
            return &t->fields[i];
    return NULL;
}

static int set_enum(int *p, const CfgField *f, const char *value) {
    for (int i = 0; f->choices[i]; i++)
        if (!strcmp(f->choices[i], value)) {
            *p = i;
            return 0;
        }
    char list[256] = "";
    for (int i = 0; f->choices[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 f->choices[i]);
    return ml_error("config key '%s': unknown value '%s' (expected one of: %s)", f->name, value,
                    list);
}

/* The one parse every source (--set, JSON, checkpoint metadata) goes through. */
int cfg_set(void *obj, const CfgField *f, const char *value) {
    void *p = (char *)obj + f->offset;
    char *end;
    errno = 0;
    switch (f->type) {
    case CFG_INT: {
        long long v = strtoll(value, &end, 10);
        if (!*value || *end)
            return ml_error("config key '%s' expects an integer, got '%s'", f->name, value);
        if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
            return ml_error("config key '%s': %s is outside the integer range", f->name, value);
        *(int *)p = (int)v;
        return 0;
    }
    case CFG_FLOAT: {
        double v = strtod(value, &end);
        if (!*value || *end)
            return ml_error("config key '%s' expects a number, got '%s'", f->name, value);
        if (!isfinite(v) || fabs(v) > FLT_MAX)
            return ml_error("config key '%s': %s is not a finite single-precision number", f->name,
                            value);
        *(float *)p = (float)v;
        return 0;
    }
    case CFG_U64: {
        unsigned long long v = strtoull(value, &end, 10);
        if (!*value || *end || value[0] == '-' || errno == ERANGE)
            return ml_error("config key '%s' expects an integer in 0..2^64-1, got '%s'", f->name,
                            value);
        *(uint64_t *)p = v;
        return 0;
    }
    case CFG_ENUM:
        return set_enum(p, f, value);
    }
    return -1;
}

/* The shortest decimal that reads back as the same float: 1e-05, not 9.99999975e-06; whole
 * numbers in full (10000, not 1e+04). */
static void float_text(char *buf, size_t n, float v) {
    if (v == floorf(v) && fabsf(v) < 1e9f) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if ((float)strtod(buf, NULL) == v) return;
    }
}

void cfg_text(const void *obj, const CfgField *f, char *buf, size_t n) {
    const void *p = (const char *)obj + f->offset;
    switch (f->type) {
    case CFG_INT:
        snprintf(buf, n, "%d", *(const int *)p);
        break;
    case CFG_FLOAT:
        float_text(buf, n, *(const float *)p);
        break;
    case CFG_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case CFG_ENUM:
        snprintf(buf, n, "%s", f->choices[*(const int *)p]);
        break;
    }
}

double cfg_number(const void *obj, const CfgField *f) {
    const void *p = (const char *)obj + f->offset;
    return f->type == CFG_FLOAT ? *(const float *)p : *(const int *)p;
}

void cfg_to_json(cJSON *o, const CfgTable *t, const void *obj) {
    char buf[64];
    for (int i = 0; i < t->n; i++) {
        const CfgField *f = &t->fields[i];
        cfg_text(obj, f, buf, sizeof buf);
        if (f->type == CFG_ENUM || f->type == CFG_U64)
            cJSON_AddStringToObject(o, f->name, buf);
        else
            cJSON_AddNumberToObject(o, f->name, strtod(buf, NULL));
    }
}

/* A JSON number as cfg_set's text: integer fields take only whole numbers, written in full so
 * the range check sees the real value. */
static int json_number_text(const CfgField *f, double v, char *buf, size_t n) {
    if (f->type == CFG_INT || f->type == CFG_U64) {
        if (v != floor(v)) return -1;
        snprintf(buf, n, "%.0f", v);
    } else {
        snprintf(buf, n, "%.17g", v);
    }
    return 0;
}

static int json_member(void *obj, const CfgField *f, const cJSON *it, const char *source) {
    char val[400];
    if (cJSON_IsString(it))
        snprintf(val, sizeof val, "%s", it->valuestring);
    else if (!cJSON_IsNumber(it))
        return ml_error("%s: config key '%s' must be a number or string", source, it->string);
    else if (json_number_text(f, it->valuedouble, val, sizeof val))
        return ml_error("%s: config key '%s' expects an integer, got %.17g", source, f->name,
                        it->valuedouble);
    if (cfg_set(obj, f, val)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ml_errmsg());
        return ml_error("%s: %s", source, msg);
    }
    return 0;
}

char *cfg_json_text(const CfgTable *t, const void *obj, const char *model, int pretty) {
    cJSON *o = cJSON_CreateObject();
    if (model) cJSON_AddStringToObject(o, "model", model);
    cfg_to_json(o, t, obj);
    char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = ml_strdup(s);
    free(s);
    return out;
}

int cfg_from_json(void *obj, const CfgTable *t, const cJSON *o, const char *source,
                  int skip_unknown) {
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        const CfgField *f = cfg_find(t, it->string);
        if (!f) {
            if (skip_unknown) continue;
            return ml_error("%s: unknown config key '%s'", source, it->string);
        }
        if (json_member(obj, f, it, source)) return -1;
    }
    return 0;
}

int cfg_check_ranges(const void *obj, const CfgTable *t, const CfgRange *ranges, int n) {
    for (int i = 0; i < n; i++) {
        const CfgRange *r = &ranges[i];
        double v = cfg_number(obj, cfg_find(t, r->name));
        /* written so that NaN fails too */
        if (!(r->above ? v > r->lo : v >= r->lo) || !(v <= r->hi))
            return ml_error("config: %s=%.9g is outside %s%.9g, %.9g]", r->name, v,
                            r->above ? "(" : "[", r->lo, r->hi);
    }
    return 0;
}

void cfg_print_help(const CfgTable *t, const void *obj) {
    char buf[64];
    for (int i = 0; i < t->n; i++) {
        const CfgField *f = &t->fields[i];
        cfg_text(obj, f, buf, sizeof buf);
        printf("  %-16s %-10s %s", f->name, buf, f->help);
        if (f->alias) printf(" (formerly %s)", f->alias);
        printf("\n");
    }
}
