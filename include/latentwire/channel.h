/* Channels: model A (sender) passes something to model B (receiver); B then answers.
 *
 * Every channel takes the same inputs: A's text (the context to communicate) and B's prompt
 * (the question). B's input is assembled from pieces: [BOS] + message + " " + prompt (text
 * pieces are joined with one space on every tokenizer; special tokens in texts are parsed).
 *   NONE     no message: B reads its prompt only (the no-communication floor).
 *   CONTEXT  B reads A's text verbatim (the ceiling: as if there were no channel).
 *   TEXT     A generates a message from its text (greedy, or sampled at sender_temp) and B
 *            reads it. Same vocabulary: A's token ids go to B unchanged; otherwise the
 *            rendered text is tokenized with B's tokenizer.
 *   CIPHER   (Pham et al., ICLR 2024) at each step A forms p = softmax(logits / T),
 *            optionally truncated to top-k / top-p and renormalized, and feeds
 *            e = sum_i p_i E_A[i] back as its next input embedding; it stops when the token
 *            embedding nearest to e (cosine) ends generation (EOS or any other EOG
 *            token of the vocabulary), or at the length limit. B reads
 *            sum_i p_i E_B[i] (its own embeddings of the same distributions) as soft tokens.
 *            Partial mode: when max p >= onehot_threshold the step sends the one-hot token
 *            (threshold 0: always one-hot, i.e. the text channel). Requires the same
 *            vocabulary in A and B.
 *   AC       (Ramesh & Li, ICML 2025) A reads its text up to layer k only (early stop) and
 *            its last-token residual a is grafted into B's last prompt token at layer j:
 *            b := f(a, b), f in {replace, sum, mean}. With a map W (AC(W)), a is first
 *            mapped to B's width: a' = W a (+ bias). Different widths need a map (refused
 *            without one: the coordinates of two unrelated bases do not correspond).
 *            Default k and j: each model's middle layer (LW_AC_LAYER_MIDDLE). A graft into
 *            B's last block reaches nothing but the logits of that one position (later
 *            tokens read keys and values computed from the block's input, not its output),
 *            so only the first answer token could change; from a middle layer on, every
 *            later layer carries the graft into the whole answer.
 * B then generates up to answer_tokens greedily. Every run records its cost. */
#ifndef LATENTWIRE_CHANNEL_H
#define LATENTWIRE_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/bridge.h"
#include "latentwire/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LW_CHANNEL_NONE = 0,
    LW_CHANNEL_CONTEXT,
    LW_CHANNEL_TEXT,
    LW_CHANNEL_CIPHER,
    LW_CHANNEL_AC,
} lw_channel_kind;

typedef enum { LW_AC_REPLACE = 0, LW_AC_SUM, LW_AC_MEAN } lw_ac_op;

/* ac_k / ac_j value standing for the model's middle layer, n_layer / 2 (the default). */
#define LW_AC_LAYER_MIDDLE (-1000000)
/* A layer index as the channel reads it: LW_AC_LAYER_MIDDLE, negative from the end, or as
 * is; -1 when out of range (message set). */
int lw_channel_resolve_layer(int layer, int n_layer);

const char *lw_channel_name(lw_channel_kind k);     /* "none", "context", "text", "cipher", "ac" */
int lw_channel_from_name(const char *name);         /* -1 if unknown */
const char *lw_ac_op_name(lw_ac_op op);             /* "replace", "sum", "mean" */
int lw_ac_op_from_name(const char *name);

typedef struct {
    lw_channel_kind kind;
    int message_tokens;     /* TEXT / CIPHER message length limit (default 24) */
    float sender_temp;      /* TEXT: A's sampling temperature (0 = greedy, default);
                               CIPHER: the softmax temperature T (default 1) */
    int cipher_top_k;       /* 0 = off */
    float cipher_top_p;     /* 1 = off */
    float cipher_onehot;    /* partial mode threshold on max p (default 2: never one-hot) */
    int ac_k, ac_j;         /* AC: A's layer k, B's layer j (negative: from the end;
                               default LW_AC_LAYER_MIDDLE) */
    lw_ac_op ac_op;
    const float *ac_W;      /* AC(W): dB x dA row-major map, or NULL */
    const float *ac_bias;   /* optional dB bias for ac_W */
    const lw_bridge *ac_bridge; /* AC(W) from a bridge file (apply_source into B's space), or NULL */
    int answer_tokens;      /* B's greedy answer length (default 8) */
    uint64_t seed;          /* TEXT sampling seed */
    bool chat;              /* wrap A's text, and B's message + prompt, as one user turn in each
                               model's own chat template, the assistant's opening after it */
} lw_channel_params;

lw_channel_params lw_channel_default_params(void);

typedef struct {
    int64_t a_forwarded;    /* tokens (or soft tokens) A's forward passes processed */
    int64_t a_generated;    /* message steps A generated */
    int64_t b_forwarded;
    int64_t b_generated;
    int64_t a_passes, b_passes; /* forward passes (llama_decode batches) */
    int64_t message_floats; /* floats sent (CIPHER vectors, AC vector) */
    int64_t message_bytes;  /* bytes sent: floats x 4, or the message text's UTF-8 bytes */
    double wall_s;
} lw_channel_cost;

typedef struct {
    char *message;          /* rendering for logs: the text message, CIPHER's nearest tokens,
                               "[AC k->j op]" */
    char *output;           /* B's answer */
    int32_t *message_tokens; /* TEXT: A's token ids; CIPHER: nearest tokens (n_message) */
    int n_message;
    lw_channel_cost cost;
} lw_channel_result;

void lw_channel_result_free(lw_channel_result *r);

/* The tokens a side's input takes as lw_channel_run feeds it, without the message: [BOS], the chat
 * turn's opening and closing when chat, and the text (the sender's text, or the receiver's
 * prompt). A text or CIPHER message of N tokens then needs sender input + N - 1 <= the sender's
 * context (the last token is not fed back), and the receiver's answer of M tokens input + message
 * + M - 1 <= the receiver's; lw_channel_run refuses an item that does not fit rather than cut its
 * message or answer short. -1 on error. */
int lw_channel_input_tokens(lw_session *s, bool chat, const char *text);

/* Runs one item. sender and receiver are sessions on models A and B (they may be the same
 * session when A == B); sequence 0 of each is cleared before use and left empty. When
 * logits_out is not NULL it receives B's logits at its last prompt position (n_vocab of B,
 * malloc'd) — for tests. 0 or -1 (vocabulary mismatch for CIPHER, layer out of range...). */
int lw_channel_run(lw_session *sender, lw_session *receiver, const lw_channel_params *p, const char *sender_text,
                   const char *receiver_prompt, lw_channel_result *out, float **logits_out);

/* AC(W): the project's ridge bridge (lw_bridge_fit, recipe RIDGE: centering, alpha by GCV
 * unless bp says otherwise) from A's last-token residuals at layer k to B's at layer j on
 * calibration texts, which must be disjoint from the items the channel is scored on (see
 * lw_task_split). bp NULL: lw_bridge_default_params(). The bridge (set it as ac_bridge) or
 * NULL (message set). */
lw_bridge *lw_channel_fit_ac_bridge(lw_session *sender, lw_session *receiver, int k, int j, const char *const *texts,
                                    int n_texts, const lw_bridge_params *bp);

/* ---- multi-agent debate ----
 * N agents (sessions on the same or different models, each with its own temperature), R
 * rounds. Round 1: every agent answers the question alone. Round r > 1: every agent reads
 * the other agents' previous answers through the channel (TEXT: their text, re-tokenized
 * for its own vocabulary; CIPHER: their answer distributions embedded with its own
 * embedding matrix, which needs one vocabulary for all agents), then the question, and
 * answers again. The final answer is the majority over the last round's answers, compared
 * by key (numeric tasks: the last number; otherwise the normalized first line); ties go to
 * the key given by the lowest-numbered agent. One agent and one round is exactly single
 * inference: [BOS] + question, then generation at the agent's temperature. */
typedef struct {
    lw_session *session;
    float temperature;      /* 0 = greedy */
} lw_agent;

typedef struct {
    int rounds;             /* default 2 */
    lw_channel_kind channel; /* LW_CHANNEL_TEXT or LW_CHANNEL_CIPHER */
    int answer_tokens;      /* default 48 */
    bool numeric;           /* vote on the last number of each answer */
    uint64_t seed;
    bool chat;              /* each agent reads its input as one user turn in its chat template */
} lw_debate_params;

lw_debate_params lw_debate_default_params(void);

typedef struct {
    int n_agents, rounds;
    char **answers;         /* rounds x n_agents rendered answers */
    char *final;            /* the majority answer (one agent's full answer text) */
    int final_agent;        /* whose answer it is */
    lw_channel_cost cost;   /* a_* fields: all agents' work summed */
} lw_debate_result;

/* The vote: index of the winning answer among n (rule above); -1 when n < 1 or an answer is NULL. */
int lw_majority_vote(char *const *answers, int n, bool numeric);

int lw_debate_run(lw_agent *agents, int n_agents, const lw_debate_params *p, const char *question,
                  lw_debate_result *out);
void lw_debate_result_free(lw_debate_result *r);

/* Same vocabulary: same size and the same piece for every id. False (message set) when a or b is NULL. */
bool lw_model_same_vocab(const lw_model *a, const lw_model *b);

#ifdef __cplusplus
}
#endif
#endif
