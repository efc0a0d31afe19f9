/*
 * llmreq.h - the one chat request of `make bench-llm` (bench/README.md,
 * "The llm agent"), so that bench/llm_raw (JSON, straight to the fake)
 * and bench/llmgen.so (msgpack, through the llm agent) ask the same
 * thing.  LLMREQ_JSON is byte for byte the body the llm plugin sends for
 * llmgen's request to a provider of kind openai with model LLMREQ_MODEL.
 */
#ifndef BENCH_LLMREQ_H
#define BENCH_LLMREQ_H

#define LLMREQ_MODEL "bench"
#define LLMREQ_SYSTEM "You answer in one word."
#define LLMREQ_USER "Say ok."
#define LLMREQ_MAX_TOKENS 16
#define LLMREQ_STR_(x) #x
#define LLMREQ_STR(x) LLMREQ_STR_(x)

#define LLMREQ_JSON                                                           \
	"{\"model\":\"" LLMREQ_MODEL "\",\"messages\":[{\"role\":"            \
	"\"system\",\"content\":\"" LLMREQ_SYSTEM "\"},{\"role\":\"user\","   \
	"\"content\":\"" LLMREQ_USER                                          \
	"\"}],\"max_tokens\":" LLMREQ_STR(LLMREQ_MAX_TOKENS) "}"

#endif
