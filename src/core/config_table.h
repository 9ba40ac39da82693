/* One engine for configuration tables: a struct's knobs declared once as rows {name, type,
 * offset, choices, help, alias}, and from that table text parsing (`--set`), JSON in and out
 * (config.json, checkpoint metadata), range checks and `--help` lines. The LM config
 * (model/lm_config.c) and the vision config (model/vision_config.c) both use it, so a knob parses,
 * prints and is refused the same way in both. */
#pragma once
#include <stddef.h>

struct cJSON;

typedef enum { CFG_INT, CFG_FLOAT, CFG_U64, CFG_ENUM } CfgType;

typedef struct {
    const char *name; /* the one name: --set, JSON, checkpoints, --help */
    CfgType type;     /* CFG_INT/CFG_ENUM: int (or enum) field; CFG_FLOAT: float; CFG_U64 */
    size_t offset;    /* of the field in the configured struct */
    const char *const *choices; /* CFG_ENUM: value names in enum order, NULL-terminated */
    const char *help;
    const char *alias; /* an older name still read (old config.json files, checkpoints); or NULL */
    double def;        /* the default (CFG_ENUM: the value's index), set by cfg_defaults */
} CfgField;

typedef struct {
    const CfgField *fields;
    int n;
} CfgTable;

/* An allowed range for a numeric field; `above` makes the lower bound exclusive (lr > 0). */
typedef struct {
    const char *name;
    double lo, hi;
    int above;
} CfgRange;

/* Every field of obj set to its row's default (fields outside the table are left as they are). */
void cfg_defaults(void *obj, const CfgTable *t);
/* The row named `key` (its name or its alias), or NULL. */
const CfgField *cfg_find(const CfgTable *t, const char *key);
/* Text to the field's type, refusing what would wrap, truncate or not fit a float, and enum
 * names outside the choices; -1 + ml_error naming the key. */
int cfg_set(void *obj, const CfgField *f, const char *value);
/* The field's value as the user would write it (floats: shortest text that reads back). */
void cfg_text(const void *obj, const CfgField *f, char *buf, size_t n);
/* The field's value as a double (CFG_INT, CFG_ENUM, CFG_FLOAT). */
double cfg_number(const void *obj, const CfgField *f);
/* Adds every field to JSON object o under its name: numbers, or strings for enums and u64 (JSON
 * numbers lose 64-bit integers). */
void cfg_to_json(struct cJSON *o, const CfgTable *t, const void *obj);
/* The same as text (ml_free it): indented when pretty (config.json files), else one line
 * (checkpoint metadata); `model`, when not NULL, comes first as "model": model. */
char *cfg_json_text(const CfgTable *t, const void *obj, const char *model, int pretty);
/* Sets the fields named by the members of JSON object o (names or aliases), in order. Numbers
 * for integer fields must be whole (2.7 is refused, not truncated). Unknown members are refused
 * unless skip_unknown. Messages start with "<source>: ". */
int cfg_from_json(void *obj, const CfgTable *t, const struct cJSON *o, const char *source,
                  int skip_unknown);
/* -1 + "config: NAME=V is outside [lo, hi]" for the first field outside its range (NaN fails). */
int cfg_check_ranges(const void *obj, const CfgTable *t, const CfgRange *r, int n);
/* One --help line per field: "  name  value  help (also: alias)". */
void cfg_print_help(const CfgTable *t, const void *obj);
