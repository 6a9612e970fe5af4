#!/usr/bin/env python3
"""A model, not a measurement: how the order in which the GPU kernel's
blocks start affects the time to finish, for document-causal packings.

Each block (one query tile of 128 rows, one head) costs 1 + its key tiles
(64 keys, document-causal); blocks start in launch order on the first free
slot (SLOTS per SM x 132 SMs). Prints the makespan over the lower bound
(total cost / slots) for three orders, averaged over random packings:
  head-major   all tiles of head 0 (last tile first), then head 1, ...
  heads-fast   the last tile for every head, then the tile before it, ...
               (what attn-gpu-tile-attention emits)
  sorted       all (tile, head) blocks by cost, largest first
and for persistent blocks (--persistent: SLOTS blocks, each taking the
heads-fast items in rounds, position b of even rounds and SLOTS - 1 - b of
odd ones, each item costing PERSISTENT_OVERHEAD + its key tiles, the
overhead the producer does not hide):
  persistent   that static schedule, over the same lower bound
  dynamic      the same blocks, block b starting with item b and claiming
               each next item (heads-fast order) when it has issued the
               loads of its current one: the current one's end less its last
               two key tiles (the stages the producer runs ahead by)
    python3 bench/schedule_sim.py [--slots-per-sm 2] [--trials 20]
    python3 bench/schedule_sim.py --slots-per-sm 1 --block-k 128 --persistent-overhead 0.3
"""
import argparse
import bisect
import heapq
import random

from packing import lognormal_lengths


def tile_costs(lengths, block_q=128, block_k=64):
    """Key tiles each query tile visits (document-causal): from the tile
    holding its first row's document start to the tile of its last row."""
    cu = [0]
    for l in lengths:
        cu.append(cu[-1] + l)
    tokens = cu[-1]
    costs = []
    for t in range((tokens + block_q - 1) // block_q):
        q0, q1 = t * block_q, min(tokens, (t + 1) * block_q)
        doc_start = cu[bisect.bisect_right(cu, q0) - 1]
        costs.append((q1 - 1) // block_k - doc_start // block_k + 1)
    return costs


def makespan(costs, slots):
    free = [0.0] * slots
    for c in costs:
        t = heapq.heappop(free)
        heapq.heappush(free, t + 1.0 + c)
    return max(free)


def persistent_makespan(costs, slots, overhead):
    total = [0.0] * min(slots, len(costs))
    g = len(total)
    for i, c in enumerate(costs):
        r, b = divmod(i, g)
        total[b if r % 2 == 0 else g - 1 - b] += overhead + c
    return max(total)


def dynamic_makespan(costs, slots, overhead, ahead=2):
    """Blocks claim the next item in the order of their claim times; a
    block claims once its current item has at most `ahead` key tiles
    left, and starts the claimed item when the current one ends."""
    g = min(slots, len(costs))
    claims = []  # (claim time, end of current item)
    for c in costs[:g]:
        end = overhead + c
        heapq.heappush(claims, (end - min(c, ahead), end))
    for c in costs[g:]:
        _, start = heapq.heappop(claims)
        end = start + overhead + c
        heapq.heappush(claims, (end - min(c, ahead), end))
    return max(end for _, end in claims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots-per-sm", type=int, default=2)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--block-k", type=int, default=64)
    ap.add_argument("--persistent-overhead", type=float, default=None,
                    help="also model persistent blocks, each item costing this "
                         "(instead of 1) plus its key tiles")
    args = ap.parse_args()
    slots, h = 132 * args.slots_per_sm, args.heads
    rng = random.Random(5)
    cases = [("16K lognormal(1024)", 16384, 1024), ("64K lognormal(2048)", 65536, 2048),
             ("16K = 64 x 256", 16384, "fixed256"), ("16K = 1 x 16384", 16384, "one")]
    for name, tokens, dist in cases:
        ratios = {}
        for _ in range(args.trials):
            lengths = ([256] * (tokens // 256) if dist == "fixed256" else
                       [tokens] if dist == "one" else
                       lognormal_lengths(tokens, dist, rng.lognormvariate))
            c = tile_costs(lengths, block_k=args.block_k)
            n = len(c)
            orders = {
                "head-major": [c[t] for _ in range(h) for t in reversed(range(n))],
                "heads-fast": [c[t] for t in reversed(range(n)) for _ in range(h)],
                "sorted": sorted((c[t] for t in range(n) for _ in range(h)), reverse=True),
            }
            bound = sum(1.0 + x for x in orders["sorted"]) / slots
            for k, o in orders.items():
                ratios.setdefault(k, []).append(makespan(o, slots) / bound)
            if args.persistent_overhead is not None:
                ratios.setdefault("persistent", []).append(persistent_makespan(
                    orders["heads-fast"], slots, args.persistent_overhead) / bound)
                ratios.setdefault("dynamic", []).append(dynamic_makespan(
                    orders["heads-fast"], slots, args.persistent_overhead) / bound)
        print(f"{name:22s} " + "  ".join(
            f"{k} {sum(v) / len(v):.3f} (worst {max(v):.3f})" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
