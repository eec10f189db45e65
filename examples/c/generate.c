/* Example: generate text with the red-flag guard through the C ABI.
 *   cc -I include examples/c/generate.c -L .build/release -lRedflagC -Wl,-rpath,.build/release -o /tmp/rf-example
 *   /tmp/rf-example models/gemma-3-270m-q4_k_m.gguf "The capital of France is"
 * Exit status: 0 ok, 1 error, 3 halted by the flag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redflag.h"

typedef struct { int tokens; int flags; } counts;

static int on_event(const rf_event *e, void *user) {
    counts *c = (counts *)user;
    switch (e->kind) {
    case RF_EVENT_TOKEN:
        c->tokens++;
        fputs(e->text, stdout);
        fflush(stdout);
        break;
    case RF_EVENT_FLAG:
        c->flags++;
        fprintf(stderr, "\n[flag] position %d p=%.4f action %d\n", e->position, e->probability, (int)e->action);
        break;
    case RF_EVENT_DONE:
        fprintf(stderr, "\n[done] %d tokens, %.1f t/s, %d flags, finish %d\n", e->tokens_generated, e->tokens_per_second,
                e->flags, (int)e->finish_reason);
        break;
    }
    return 0; /* keep going */
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL PROMPT [threshold]\n", argv[0]); return 1; }
    rf_model_options mo; rf_model_options_default(&mo);
    rf_model *model = NULL;
    if (rf_model_open(argv[1], &mo, &model) != RF_OK) { fprintf(stderr, "error: %s\n", rf_last_error()); return 1; }

    int32_t ids[64]; int32_t n = 0;
    if (rf_tokenize(model, "<unused0>", 0, 0, ids, 64, &n) != RF_OK) { fprintf(stderr, "error: %s\n", rf_last_error()); return 1; }
    for (int i = 0; i < n; i++) if (ids[i] == 6) { fprintf(stderr, "user text became the flag token\n"); return 1; }

    rf_context_options co; rf_context_options_default(&co);
    co.context_size = 512;
    co.guard_policy = RF_GUARD_MONITOR;
    if (argc > 3) co.threshold = (float)atof(argv[3]);
    rf_context *ctx = NULL;
    if (rf_context_create(model, &co, &ctx) != RF_OK) { fprintf(stderr, "error: %s\n", rf_last_error()); return 1; }

    rf_generate_options go; rf_generate_options_default(&go);
    go.max_tokens = 16;
    go.chat = 0;
    counts c = {0, 0};
    rf_status st = rf_generate(ctx, argv[2], &go, on_event, &c);
    if (st != RF_OK) { fprintf(stderr, "error %d: %s\n", (int)st, rf_last_error()); return 1; }
    printf("\ntokens=%d flags=%d\n", c.tokens, c.flags);

    /* Bad input gets a clear error, not a crash. */
    rf_model *none = NULL;
    if (rf_model_open("/nonexistent.gguf", &mo, &none) == RF_OK) return 1;
    fprintf(stderr, "expected error: %s\n", rf_last_error());

    rf_context_free(ctx);
    rf_model_free(model);
    return 0;
}
