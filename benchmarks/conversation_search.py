"""Staff console full-text search over N synthetic messages on PostgreSQL: p50/p95 of one inbox page.

    .venv/bin/python benchmarks/conversation_search.py               # N = 100,000 messages
    .venv/bin/python benchmarks/conversation_search.py --n 1000000   # the target size: p95 <= 200 ms
    (TEST_POSTGRES_URL to change the server)

Builds a private schema (dropped at the end) at the head revision (GIN index of migration 0007), inserts N
user/bot message events in conversations of 10 with generate_series (texts from a 400-word vocabulary: common
words, a word in 1 of 1,000 messages, a word in 1 of 100,000), ANALYZEs, then times
``profiles.conversations.list_conversations`` (count + first page of 25, newest first, the inbox's two queries)
for each query --runs times and prints p50 and p95 in ms. A very common word is paged newest-first and its
total is a lower bound ("+").

Use a private database: TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/<yours>.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import percentile  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--n", type=int, default=100_000, help="messages (default 100,000)")
parser.add_argument("--runs", type=int, default=40, help="timed runs per query (default 40)")
args = parser.parse_args()
N = args.n
BASE = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
schema = f"bench_conv_{uuid.uuid4().hex[:6]}"
admin = create_engine(BASE)
with admin.begin() as c:
    c.execute(text(f'CREATE SCHEMA "{schema}"'))
url = make_url(BASE).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
os.environ["DATABASE_URL"] = url
from profiles.conversations import ConversationFilters, list_conversations  # noqa: E402
from profiles.db import get_engine, init_db, reset_engine  # noqa: E402

try:
    init_db()
    t0 = time.time()
    with get_engine().begin() as c:
        c.execute(text("""
          WITH words AS (SELECT array_agg('w' || i) AS w FROM generate_series(1, 400) i)
          INSERT INTO conversation_events (event_key, sender_id, event_type, timestamp, channel, text, intent, data)
          SELECT md5(g::text), 'bench-' || (g / 10), CASE WHEN g % 2 = 0 THEN 'user' ELSE 'bot' END,
                 now() - make_interval(secs => (:n - g) * 30),
                 (ARRAY['rest','socketio','telegram','facebook'])[1 + (g / 10) % 4],
                 (ARRAY['transfer','card','balance','blocked','help','money','account','please'])[1 + g % 8] || ' '
                   || w[1 + (g * 7) % 400] || ' ' || w[1 + (g * 13) % 400] || ' '
                   || CASE WHEN g % 1000 = 7 THEN 'chargeback ' ELSE '' END
                   || CASE WHEN g % 100000 = 11 THEN 'zeppelin ' ELSE '' END || 'thanks',
                 CASE WHEN g % 2 = 0 THEN (CASE WHEN g % 50 = 0 THEN 'nlu_fallback' ELSE 'check_balance' END) END,
                 '{}'::json
          FROM generate_series(1, :n) g, words"""), {"n": N})
        c.execute(text("ANALYZE"))
    print(f"{N:,} messages in {N // 10:,} conversations loaded in {time.time() - t0:.1f} s")
    queries = {
        "rare word (1 in 100,000)": ConversationFilters(q="zeppelin"),
        "uncommon word (1 in 1,000)": ConversationFilters(q="chargeback"),
        "two words (1 in 1,000 + common)": ConversationFilters(q="chargeback thanks"),
        "uncommon + fallback filter": ConversationFilters(q="chargeback", fallback=True),
        "common word (1 in 8)": ConversationFilters(q="blocked"),
        "no search: the inbox's first page": ConversationFilters(),
        "no search: fallback filter": ConversationFilters(fallback=True),
    }
    for name, filters in queries.items():
        list_conversations(filters, staff="bench", role="staff")  # warm
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            page = list_conversations(filters, staff="bench", role="staff")
            times.append((time.perf_counter() - t) * 1000)
        print(f"{name:34s} p50 {percentile(times, 50):7.1f} ms  p95 {percentile(times, 95):7.1f} ms  "
              f"matches {page.total:,}{'' if page.total_exact else '+ (newest first, lower bound)'}")
finally:
    reset_engine()
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
