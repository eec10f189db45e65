/* Flag integrity through the C ABI: with the guard on (halt), no callback delivers text generated after the halt.
 *   halt_check MODEL
 * 1. A monitor run (τ tiny, so every position reports p(<rf>)) records p at each response position.
 * 2. A halt run with τ = the largest p recorded: it must halt exactly at that position k, after exactly k token
 *    events, with no token event after the flag event, finish reason FLAGGED, and the final text withheld (not the
 *    streamed text) by default or equal to the streamed text with return_partial.
 * Exit status 0 when every check holds. */
#include <stdio.h>
#include <string.h>
#include "redflag.h"

#define MAX_TOKENS 24

typedef struct {
    int tokens, flags, tokens_after_flag, first_flag_position, finish;
    float p[MAX_TOKENS + 1];
    char streamed[4096], final_text[4096];
} record;

static int on_event(const rf_event *e, void *user) {
    record *r = (record *)user;
    switch (e->kind) {
    case RF_EVENT_TOKEN:
        r->tokens++;
        if (r->flags > 0 && r->first_flag_position >= 0) r->tokens_after_flag++;
        strncat(r->streamed, e->text, sizeof r->streamed - strlen(r->streamed) - 1);
        break;
    case RF_EVENT_FLAG:
        if (r->flags++ == 0) r->first_flag_position = e->position;
        if (e->position >= 0 && e->position <= MAX_TOKENS) r->p[e->position] = e->probability;
        break;
    case RF_EVENT_DONE:
        r->finish = (int)e->finish_reason;
        snprintf(r->final_text, sizeof r->final_text, "%s", e->text ? e->text : "");
        break;
    }
    return 0;
}

static int run(rf_model *model, rf_guard policy, float threshold, int return_partial, record *r) {
    memset(r, 0, sizeof *r);
    r->first_flag_position = -1;
    rf_context_options co; rf_context_options_default(&co);
    co.context_size = 256; co.guard_policy = policy; co.threshold = threshold;
    rf_context *ctx = NULL;
    if (rf_context_create(model, &co, &ctx) != RF_OK) { fprintf(stderr, "error: %s\n", rf_last_error()); return 1; }
    rf_generate_options go; rf_generate_options_default(&go);
    go.max_tokens = MAX_TOKENS; go.chat = 0; go.return_partial = return_partial;
    rf_status st = rf_generate(ctx, "Here is a short story about a dragon:", &go, on_event, r);
    rf_context_free(ctx);
    if (st != RF_OK) { fprintf(stderr, "error %d: %s\n", (int)st, rf_last_error()); return 1; }
    return 0;
}

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s MODEL\n", argv[0]); return 1; }
    rf_model_options mo; rf_model_options_default(&mo);
    rf_model *model = NULL;
    if (rf_model_open(argv[1], &mo, &model) != RF_OK) { fprintf(stderr, "error: %s\n", rf_last_error()); return 1; }

    static record mon, halt, partial;
    if (run(model, RF_GUARD_MONITOR, 1e-30f, 0, &mon)) return 1;
    CHECK(mon.tokens == MAX_TOKENS && mon.flags == MAX_TOKENS + 1, "monitor run: %d tokens, %d flags", mon.tokens, mon.flags);
    int k = 0;
    for (int j = 1; j <= MAX_TOKENS; j++) if (mon.p[j] > mon.p[k]) k = j;   /* first position of the largest p */

    if (run(model, RF_GUARD_HALT, mon.p[k], 0, &halt)) return 1;
    CHECK(halt.finish == RF_FINISH_FLAGGED, "halt run finished with %d, expected FLAGGED", halt.finish);
    CHECK(halt.first_flag_position == k, "halted at %d, expected %d", halt.first_flag_position, k);
    CHECK(halt.tokens == k, "%d token events before the halt at %d", halt.tokens, k);
    CHECK(halt.tokens_after_flag == 0, "%d token events after the halt", halt.tokens_after_flag);
    CHECK(halt.flags == 1, "%d flag events", halt.flags);
    CHECK(k == 0 || strcmp(halt.final_text, halt.streamed) != 0, "withheld answer equals the partial text '%s'", halt.streamed);

    if (run(model, RF_GUARD_HALT, mon.p[k], 1, &partial)) return 1;
    CHECK(partial.tokens == k && partial.tokens_after_flag == 0, "return_partial: %d tokens, %d after the halt",
          partial.tokens, partial.tokens_after_flag);
    CHECK(strcmp(partial.final_text, partial.streamed) == 0, "return_partial: final '%s' differs from streamed '%s'",
          partial.final_text, partial.streamed);
    CHECK(strncmp(mon.streamed, partial.streamed, strlen(partial.streamed)) == 0, "partial text is not a prefix of the monitor run");

    printf("C halt check: OK (halted at %d of %d, p=%.4g, withheld answer '%s')\n", k, MAX_TOKENS, mon.p[k], halt.final_text);
    rf_model_free(model);
    return 0;
}
