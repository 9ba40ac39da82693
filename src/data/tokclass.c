/* Token classes for syntax analyses (docs/tokenizer.md): decided from the token's bytes alone. */
#include "data/pretok.h"
#include "data/tokenizer.h"
#include <string.h>

/* Small closed-class lists: articles, pronouns, prepositions, conjunctions, auxiliaries. */
static const char *const fw_en[] = {
    "the",   "a",     "an",     "of",    "in",    "on",  "at",    "to",    "for",   "with",
    "by",    "from",  "as",     "into",  "about", "and", "or",    "but",   "nor",   "if",
    "that",  "than",  "then",   "so",    "not",   "no",  "is",    "are",   "was",   "were",
    "be",    "been",  "being",  "has",   "have",  "had", "do",    "does",  "did",   "will",
    "would", "shall", "should", "can",   "could", "may", "might", "must",  "it",    "its",
    "he",    "she",   "they",   "we",    "you",   "i",   "him",   "her",   "them",  "us",
    "me",    "his",   "their",  "our",   "your",  "my",  "this",  "these", "those", "which",
    "who",   "whom",  "what",   "there", "here",  "all", "each",  "any",   "some",  NULL};
static const char *const fw_fr[] = {
    "le",   "la",   "les",  "l",     "un",    "une",  "des",  "du",    "de",   "d",
    "au",   "aux",  "à",    "en",    "dans",  "par",  "pour", "sur",   "sous", "avec",
    "sans", "et",   "ou",   "mais",  "donc",  "or",   "ni",   "car",   "que",  "qu",
    "qui",  "quoi", "dont", "où",    "si",    "ne",   "n",    "pas",   "est",  "sont",
    "être", "a",    "ont",  "avoir", "il",    "elle", "ils",  "elles", "on",   "nous",
    "vous", "je",   "j",    "tu",    "se",    "s",    "ce",   "cette", "ces",  "cet",
    "son",  "sa",   "ses",  "leur",  "leurs", "y",    NULL};
static const char *const fw_de[] = {
    "der",    "die",   "das",  "den",   "dem",  "des",   "ein",  "eine", "einen", "einem", "einer",
    "eines",  "und",   "oder", "aber",  "doch", "denn",  "dass", "daß",  "wenn",  "als",   "wie",
    "ob",     "nicht", "kein", "keine", "in",   "im",    "an",   "am",   "auf",   "aus",   "bei",
    "mit",    "nach",  "von",  "vom",   "zu",   "zum",   "zur",  "für",  "über",  "unter", "vor",
    "durch",  "um",    "ist",  "sind",  "war",  "waren", "sein", "hat",  "haben", "hatte", "wird",
    "werden", "kann",  "ich",  "du",    "er",   "sie",   "es",   "wir",  "ihr",   "man",   "sich",
    "mich",   "dich",  "ihm",  "ihn",   "uns",  "euch",  NULL};
static const char *const *const lists[] = {fw_en, fw_fr, fw_de};

int token_lang_from_name(const char *name) {
    if (!strncmp(name, "en", 2) && (!name[2] || name[2] == '_')) return LANG_EN;
    if (!strncmp(name, "fr", 2) && (!name[2] || name[2] == '_')) return LANG_FR;
    if (!strncmp(name, "de", 2) && (!name[2] || name[2] == '_')) return LANG_DE;
    return LANG_ANY;
}

const char *token_class_name(int cls) {
    static const char *names[] = {"word_start", "word_internal", "digit", "punct",
                                  "space",      "function_word", "other"};
    return cls >= 0 && cls < TOKCLASS_COUNT ? names[cls] : "?";
}

/* Lower-cases ASCII and Latin-1 capitals (À..Þ except ×) in UTF-8, in place. */
static void lower_utf8(char *s) {
    unsigned char *p = (unsigned char *)s;
    for (; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p += 32;
        else if (*p == 0xC3 && p[1] >= 0x80 && p[1] <= 0x9E && p[1] != 0x97)
            p[1] += 32, p++;
    }
}

static int is_function_word(const char *word, int lang) {
    for (int l = 0; l < 3; l++) {
        if (lang != LANG_ANY && lang != l) continue;
        for (const char *const *w = lists[l]; *w; w++)
            if (!strcmp(*w, word)) return 1;
    }
    return 0;
}

int token_class(const Tokenizer *t, int id, int lang) {
    if (id == tokenizer_eot(t)) return TOKCLASS_OTHER;
    size_t n;
    const char *s = tokenizer_token_bytes(t, id, &n);
    return token_class_bytes(s, n, lang);
}

int token_class_bytes(const char *bytes, size_t n, int lang) {
    const unsigned char *s = (const unsigned char *)bytes;
    if (!s || !n) return TOKCLASS_OTHER;
    size_t i = 0;
    int lead_space = 0, cls = -1, mixed = 0, apostrophe = 0;
    if (s[0] == ' ' && n > 1) lead_space = 1, i = 1;
    if (s[i] == '\'' && n - i > 1) apostrophe = 1, i++; /* 's 't 're ... are word-internal */
    for (size_t j = i; j < n;) {
        int32_t cp;
        j += (size_t)utf8_decode(s + j, n - j, &cp);
        if (cp < 0) return TOKCLASS_OTHER;
        int c = unicode_class(cp);
        if (cls < 0)
            cls = c;
        else if (c != cls)
            mixed = 1;
    }
    if (lead_space && cls == UCLASS_SPACE) return TOKCLASS_SPACE;
    if (mixed) return TOKCLASS_OTHER;
    if (apostrophe)
        return cls == UCLASS_LETTER && !lead_space ? TOKCLASS_WORD_INTERNAL : TOKCLASS_PUNCT;
    switch (cls) {
    case UCLASS_SPACE:
        return TOKCLASS_SPACE;
    case UCLASS_NUMBER:
        return TOKCLASS_DIGIT;
    case UCLASS_OTHER:
        return TOKCLASS_PUNCT;
    default:
        break;
    }
    if (!lead_space) return TOKCLASS_WORD_INTERNAL;
    char word[64];
    if (n - 1 >= sizeof word) return TOKCLASS_WORD_START;
    memcpy(word, s + 1, n - 1);
    word[n - 1] = 0;
    lower_utf8(word);
    return is_function_word(word, lang) ? TOKCLASS_FUNCTION_WORD : TOKCLASS_WORD_START;
}

void token_class_table(const Tokenizer *t, int lang, uint8_t *table) {
    for (int id = 0; id < tokenizer_vocab_size(t); id++)
        table[id] = (uint8_t)token_class(t, id, lang);
}
