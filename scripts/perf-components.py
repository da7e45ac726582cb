#!/usr/bin/env python3
"""Shares of a server profile by component, from `perf script` call stacks.

    perf record -F 499 --call-graph dwarf,32768 -p <baton pid> -o bot.perf   # during a run
    perf script -i bot.perf -F comm,tid,ip,sym | scripts/perf-components.py

Each sample counts once, for the first component (in the order below) found anywhere on its
stack, so a component's share includes everything it calls. Samples in none are listed by
their innermost function.
"""
import collections
import re
import sys

COMPONENTS = [
    ("message understanding (Analyzer::analyze)", "Analyzer::analyze"),
    ("knowledge-base search", "KnowledgeBase::search"),
    ("dialogue turn", "baton_dialogue::turn"),
    ("escalation policy", "baton_handoff::policy"),
    ("memory fold", "Memory::apply"),
    ("store writer: checkpoint catch-up", "passive_checkpoint"),
    ("store writer: commit", "execute_batch"),
    ("store writer: insert events", "insert_event"),
    ("store writer: the rest (decide, encode, conversation rows)", "baton_store_sqlite::writer::run"),
    ("store checkpointer thread", "checkpoint::"),
    ("store reads (sqlx)", "sqlx_sqlite"),
    ("WebSocket: write and flush", "poll_flush"),
    ("WebSocket: read", "poll_next<"),
    ("WebSocket: the stream's own work", "conversation_stream"),
    ("hub publish", "Hub::publish"),
    ("bot worker: the rest", "Bot::deliver"),
    ("HTTP (REST)", "hyper::proto"),
    ("tokio scheduler (parking, waking)", "park"),
]


def main():
    counts = collections.Counter()
    total = 0
    stack = []

    def flush():
        nonlocal total
        if not stack:
            return
        total += 1
        text = "\n".join(stack)
        for name, pattern in COMPONENTS:
            if pattern in text:
                counts[name] += 1
                return
        counts["other: " + stack[0][:70]] += 1

    for line in sys.stdin:
        frame = re.match(r"^\s+[0-9a-f]+ (.*)$", line.rstrip("\n"))
        if frame:
            stack.append(re.sub(r"\+0x[0-9a-f]+", "", frame.group(1)))
        else:
            flush()
            stack = []
    flush()
    if total == 0:
        sys.exit("no samples with call stacks on stdin")
    named = sum(v for k, v in counts.items() if not k.startswith("other: "))
    for name, count in counts.most_common():
        if not name.startswith("other: "):
            print(f"{100 * count / total:6.2f}%  {name}")
    print(f"{100 * (total - named) / total:6.2f}%  elsewhere ({total} samples in all)")


if __name__ == "__main__":
    main()
