"""Document lengths for the benchmark scripts (no third-party imports)."""
import math


def lognormal_lengths(tokens, median, draw):
    """Lognormal(median, sigma 1) lengths of at least 1 summing to `tokens`
    (the last one cut to fit); draw(mu, sigma) samples the lognormal, from
    the caller's generator (numpy's rng.lognormal, random's lognormvariate)."""
    out, total = [], 0
    while total < tokens:
        l = max(1, int(round(draw(math.log(median), 1.0))))
        l = min(l, tokens - total)
        out.append(l)
        total += l
    return out


def parse_docs(spec):
    """A distribution of document lengths, as attn-run's --docs names them:
    "lognormal:MEDIAN", "uniform:MAX" (1..MAX), "uniform:MIN-MAX" or
    "fixed:L" -> (kind, low, high); ValueError if malformed."""
    kind, _, param = spec.partition(":")
    lo, dash, hi = param.partition("-")
    try:
        lo, hi = int(lo), int(hi) if dash else None
    except ValueError:
        raise ValueError(f"bad document lengths {spec!r} (expected lognormal:MEDIAN, "
                         "uniform:MAX, uniform:MIN-MAX or fixed:L)") from None
    if kind not in ("lognormal", "uniform", "fixed") or (dash and kind != "uniform") \
            or lo < 1 or (hi is not None and hi < lo):
        raise ValueError(f"bad document lengths {spec!r} (expected lognormal:MEDIAN, "
                         "uniform:MAX, uniform:MIN-MAX or fixed:L, lengths >= 1)")
    if kind == "uniform" and hi is None:
        lo, hi = 1, lo
    return kind, lo, hi


def draw_lengths(tokens, spec, rng):
    """Lengths of at least 1 summing to `tokens`, drawn from `spec`
    (parse_docs) with numpy's Generator `rng`; the last one cut to fit
    (a fixed length that does not divide `tokens` leaves a shorter last
    document)."""
    kind, lo, hi = parse_docs(spec)
    if kind == "lognormal":
        return lognormal_lengths(tokens, lo, rng.lognormal)
    out, total = [], 0
    while total < tokens:
        l = lo if kind == "fixed" else int(rng.integers(lo, hi + 1))
        l = min(l, tokens - total)
        out.append(l)
        total += l
    return out
