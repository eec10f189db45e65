/*
 * redflag.h — C interface to the redflag inference engine.
 *
 * Opaque handles; no Swift types cross this boundary. Every function that can fail returns an rf_status;
 * rf_last_error() then describes the failure (what was found and what was expected).
 *
 * Thread safety:
 *   - An rf_model is immutable after rf_model_open and may be shared by any number of threads/contexts.
 *   - An rf_context is NOT thread-safe: use each context from one thread at a time.
 *     The one exception is rf_cancel(), which any thread may call at any time.
 *   - rf_last_error() is per thread: it reports the last failure on the calling thread.
 *
 * Forward compatibility: every options struct starts with `struct_size`; fill it with sizeof(the struct)
 * (the *_default() functions do). Newer libraries accept older, smaller structs.
 */
#ifndef REDFLAG_H
#define REDFLAG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RF_API_VERSION 1

typedef struct rf_model rf_model;
typedef struct rf_context rf_context;

typedef enum rf_status {
    RF_OK = 0,
    RF_ERR_INVALID_ARGUMENT = 1, /* a NULL handle, a bad option value, a too-small buffer */
    RF_ERR_IO = 2,               /* file missing or unreadable */
    RF_ERR_MODEL = 3,            /* the file is not a usable model (or adapter) */
    RF_ERR_CONTEXT = 4,          /* prompt longer than the context, context full */
    RF_ERR_CANCELLED = 5,        /* rf_cancel() or the callback stopped generation (partial events were delivered) */
    RF_ERR_SESSION = 6           /* session file refused: other model, version, context size, corruption */
} rf_status;

typedef enum rf_guard {
    RF_GUARD_OFF = 0,
    RF_GUARD_HALT = 1,
    RF_GUARD_REFLECT = 2,
    RF_GUARD_MONITOR = 3
} rf_guard;

typedef struct rf_model_options {
    uint32_t struct_size;
    int32_t threads;           /* threads used while loading/converting weights; <= 0: all cores */
    const char *lora_path;     /* optional LoRA adapter merged at load; NULL for none */
    int32_t exact;             /* 1: f32 reference weights; 0: int8/int4 kernels (default) */
} rf_model_options;

typedef struct rf_context_options {
    uint32_t struct_size;
    int32_t threads;           /* <= 0: all cores */
    int32_t context_size;      /* tokens; <= 0: 2048 */
    rf_guard guard_policy;     /* default RF_GUARD_HALT */
    float threshold;           /* p(<rf>) threshold; <= 0: the model's redflag.threshold, else 0.5 */
} rf_context_options;

typedef struct rf_generate_options {
    uint32_t struct_size;
    int32_t max_tokens;        /* default 128 */
    float temperature;         /* 0: greedy (default) */
    int32_t top_k;             /* default 40; 0: all */
    float top_p;               /* default 1 (off) */
    float min_p;               /* default 0 (off) */
    float repeat_penalty;      /* default 1 (off) */
    uint64_t seed;
    const char *prefill;       /* optional forced start of the answer (scanned for the flag); NULL for none */
    int32_t chat;              /* 1: wrap the prompt in the model's chat turn format (default 1) */
    int32_t return_partial;    /* 1: on halt, deliver the partial text; 0: withheld (default) */
} rf_generate_options;

typedef enum rf_event_kind {
    RF_EVENT_TOKEN = 0,        /* text: the new response text (UTF-8, complete characters only) */
    RF_EVENT_FLAG = 1,         /* position, probability, action */
    RF_EVENT_DONE = 2          /* tokens_generated, tokens_per_second, flags, finish_reason, text */
} rf_event_kind;

typedef enum rf_flag_action { RF_ACTION_HALTED = 0, RF_ACTION_REFLECTED = 1, RF_ACTION_REPORTED = 2 } rf_flag_action;
typedef enum rf_finish_reason { RF_FINISH_STOP = 0, RF_FINISH_LENGTH = 1, RF_FINISH_FLAGGED = 2, RF_FINISH_CANCELLED = 3 } rf_finish_reason;

typedef struct rf_event {
    rf_event_kind kind;
    int32_t token_id;            /* TOKEN */
    const char *text;            /* TOKEN: the piece; DONE: the final answer (safe message when halted and withheld) */
    int32_t position;            /* FLAG: index in the response */
    float probability;           /* FLAG: p(<rf>) */
    rf_flag_action action;       /* FLAG */
    int32_t tokens_generated;    /* DONE */
    double tokens_per_second;    /* DONE */
    int32_t flags;               /* DONE: number of flags */
    rf_finish_reason finish_reason; /* DONE */
} rf_event;

/* Called for every event, on the thread that called rf_generate. Pointers are valid only during the call.
 * Return non-zero to stop generation (rf_generate then returns RF_ERR_CANCELLED). */
typedef int (*rf_event_callback)(const rf_event *event, void *user_data);

void rf_model_options_default(rf_model_options *options);
void rf_context_options_default(rf_context_options *options);
void rf_generate_options_default(rf_generate_options *options);

rf_status rf_model_open(const char *path, const rf_model_options *options, rf_model **out_model);
void rf_model_free(rf_model *model);

rf_status rf_context_create(rf_model *model, const rf_context_options *options, rf_context **out_context);
void rf_context_free(rf_context *context);

/* Token ids of `text` (user text is plain text unless parse_special). Writes at most `capacity` ids;
 * *out_count receives the full count (call again with a larger buffer if it exceeds capacity). */
rf_status rf_tokenize(rf_model *model, const char *text, int32_t add_bos, int32_t parse_special,
                      int32_t *out_ids, int32_t capacity, int32_t *out_count);
/* UTF-8 text of ids, NUL-terminated into `buffer`; *out_length receives the length without the NUL. */
rf_status rf_detokenize(rf_model *model, const int32_t *ids, int32_t count, char *buffer, size_t capacity, size_t *out_length);

rf_status rf_generate(rf_context *context, const char *prompt, const rf_generate_options *options,
                      rf_event_callback callback, void *user_data);
/* Stops the generation running on `context` at the next token. Any thread. */
void rf_cancel(rf_context *context);

rf_status rf_session_save(rf_context *context, const char *path);
rf_status rf_session_load(rf_context *context, const char *path);

/* The last error on this thread ("" if none). Valid until the next failing call on this thread. */
const char *rf_last_error(void);
int32_t rf_api_version(void);

#ifdef __cplusplus
}
#endif
#endif /* REDFLAG_H */
