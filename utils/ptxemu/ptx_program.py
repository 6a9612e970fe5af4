"""The PTX program: the emulator's error, the register storage types, and
the parser of a kernel's PTX (Kernel: parameters, registers, labels,
instructions).
"""

import re

import numpy as np

U32, U64 = np.uint32, np.uint64
MASK32 = 0xFFFFFFFF


class EmulationError(Exception):
    pass


SPECIAL_REGISTERS = ("%tid.x", "%tid.y", "%tid.z", "%ntid.x", "%ctaid.x",
                     "%ctaid.y", "%ctaid.z", "%nctaid.x", "%nctaid.y",
                     "%nctaid.z", "%laneid")


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


class Instr:
    __slots__ = ("text", "pred", "neg", "op", "args", "line", "fn", "target",
                 "group", "blocking", "warp_sync")

    def __init__(self, text, pred, neg, op, args, line):
        self.text, self.pred, self.neg, self.op = text, pred, neg, op
        self.args, self.line = args, line
        self.fn = None
        self.target = None
        self.group = 0
        # May leave threads where they are (mbarrier waits): the scheduler
        # looks again after it.
        self.blocking = op.startswith(("mbarrier.try_wait", "atom.global.add.u32")) or (
            op == "bar.sync" and len(args) == 2)
        # A warp's lanes execute it together (.sync.aligned): lanes that get
        # there first wait for the rest of the warp (a branch inside a loop
        # body may send some back to the loop's head, past the others).
        self.warp_sync = op.startswith(("ldmatrix.", "shfl.sync.", "mma.sync."))


def _split_args(s):
    """Top-level comma split that keeps {a, b} groups and [a, {b}]
    addresses together."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class _LineCounter:
    """Line numbers of offsets into the body, asked for in increasing order."""

    def __init__(self, text, base):
        self.text, self.base, self.off, self.line = text, base, 0, 1

    def __call__(self, off):
        target = self.base + off
        self.line += self.text.count("\n", self.off, target)
        self.off = target
        return self.line


class Kernel:
    def __init__(self, text, name=None):
        text = re.sub(r"//[^\n]*", "", text)
        entries = list(re.finditer(r"\.entry\s+(\w+)\s*\((.*?)\)", text, re.S))
        if not entries:
            raise EmulationError("no .entry in the PTX")
        # A module of several kernels (the forward and the backward): the
        # one named, its body the braces after it; the dynamic shared
        # window is then declared at module scope (a single kernel's is
        # demoted into its body).
        found = [m for m in entries if name in (None, m.group(1))]
        if not found:
            raise EmulationError(f"the PTX's kernels are "
                                 f"{', '.join(m.group(1) for m in entries)}, not {name}")
        if len(found) > 1:
            raise EmulationError("the PTX has several kernels: name one")
        m = found[0]
        sm = re.search(r"^\s*\.shared\s+\.align\s+\d+\s+\.b8\s+(\w+)\s*;",
                       text[:entries[0].start()], re.M)
        if sm:
            self.shared_symbol = sm.group(1)
        self.name = m.group(1)
        self.params = []
        self.byte_params = {}  # name -> bytes, of .b8 NAME[N] parameters
        for p in m.group(2).split(","):
            bm = re.search(r"\.param\s+\.align\s+\d+\s+\.b8\s+(\w+)\[(\d+)\]", p)
            if bm:
                self.byte_params[bm.group(1)] = int(bm.group(2))
                self.params.append(bm.group(1))
                continue
            pm = re.search(r"\.param\s+\.(\w+)(?:\s+\.ptr(?:\s+\.global)?\s+\.align\s+\d+)?"
                           r"\s+(\w+)", p)
            if not pm:
                raise EmulationError(f"unsupported parameter: {p.strip()}")
            if pm.group(1) not in ("u64", "b64", "s64"):
                raise EmulationError(f"unsupported parameter type: {p.strip()}")
            self.params.append(pm.group(2))
        body_start = text.index("{", m.end()) + 1
        depth, end = 1, body_start
        while depth:
            end = min(i for i in (text.find("{", end), text.find("}", end)) if i >= 0)
            depth += 1 if text[end] == "{" else -1
            end += 1
        body = text[body_start: end - 1]
        self.instrs, self.labels = [], {}
        self.regs = {}  # name -> storage dtype
        line_of = _LineCounter(text, body_start)
        for stmt, line in self._statements(body, line_of):
            while True:
                lm = re.match(r"^(\$?[\w$]+):\s*", stmt)
                if not lm:
                    break
                self.labels[lm.group(1)] = len(self.instrs)
                stmt = stmt[lm.end():].lstrip("{} ")
            if not stmt:
                continue
            if stmt.startswith(".reg"):
                self._declare(stmt)
                continue
            if stmt.startswith(".shared"):
                sm = re.search(r"\.shared\s+\.align\s+(\d+)\s+\.b8\s+(\w+)(?:\[(\d+)\])?",
                               stmt)
                if not sm:
                    raise EmulationError(f"unsupported shared declaration: {stmt}")
                if getattr(self, "shared_symbol", sm.group(2)) != sm.group(2):
                    raise EmulationError("more than one shared declaration: "
                                         f"{self.shared_symbol}, {sm.group(2)}")
                self.shared_symbol = sm.group(2)
                # A static array (NAME[N]): the block's shared memory.
                self.static_shared_bytes = int(sm.group(3) or 0)
                continue
            if stmt.startswith("."):
                continue  # .maxntid, .reqntid: launch facts, not code
            pred, neg = None, False
            pm = re.match(r"^@(!?)(%?\w+)\s+", stmt)
            if pm:
                neg, pred = pm.group(1) == "!", pm.group(2)
                stmt = stmt[pm.end():]
            parts = stmt.split(None, 1)
            op = parts[0]
            args = _split_args(parts[1]) if len(parts) > 1 else []
            self.instrs.append(Instr(stmt, pred, neg, op, args, line))
        for ins in self.instrs:
            if ins.op.startswith("bra"):
                if ins.args[0] not in self.labels:
                    raise EmulationError(f"line {ins.line}: unknown label {ins.args[0]}")
                ins.target = self.labels[ins.args[0]]

    @staticmethod
    def _statements(body, line_of):
        # Scope braces of inline asm blocks stand alone and mean nothing here.
        pos = 0
        for piece in body.split(";"):
            stmt = " ".join(piece.split())
            lead = len(piece) - len(piece.lstrip(" \t\n{}"))
            line = line_of(pos + lead)
            pos += len(piece) + 1
            while stmt[:1] in ("{", "}"):
                stmt = stmt[1:].strip()
            if stmt:
                yield stmt, line

    def _declare(self, stmt):
        m = re.match(r"\.reg\s+\.(\w+)\s+(%?\w+)(?:<(\d+)>)?$", stmt)
        if not m:
            raise EmulationError(f"unsupported register declaration: {stmt}")
        # (16-bit integers live in 32-bit storage, their high half zero.)
        kind = {"pred": bool, "b32": U32, "u32": U32, "s32": U32, "f32": U32,
                "b64": U64, "u64": U64, "s64": U64, "b16": U32, "u16": U32,
                "s16": U32}.get(m.group(1))
        if kind is None:
            raise EmulationError(f"unsupported register type: {stmt}")
        base = m.group(2)
        if m.group(3) is None:
            self.regs[base] = kind
        else:
            self.regs[base + "*"] = kind

    def reg_dtype(self, name):
        if name in self.regs:
            return self.regs[name]
        dt = self._reg_dtype(name)
        self.regs[name] = dt
        return dt

    def _reg_dtype(self, name):
        base = re.match(r"^(%?[a-z_]+)\d*$", name)
        if base and base.group(1) + "*" in self.regs:
            return self.regs[base.group(1) + "*"]
        raise EmulationError(f"undeclared register {name}")
