#ifndef REDFLAG_CPREFETCH_H
#define REDFLAG_CPREFETCH_H

/// Software prefetch hint for the GEMV kernels (a read of `p` into all cache levels, no fault on bad
/// addresses). Swift has no prefetch intrinsic and clang's `_mm_prefetch` is a macro, so it is wrapped here
/// as a static inline function; imported into Swift and inlined, it is one `prefetcht0` instruction.
static inline __attribute__((always_inline)) void redflag_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

#endif
