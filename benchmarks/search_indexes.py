"""Customer search timings on PostgreSQL with N synthetic customers, without and with migration 0004's indexes.

    .venv/bin/python benchmarks/search_indexes.py [N]        # default 500,000; TEST_POSTGRES_URL to change the server

Builds a private schema (dropped at the end), inserts N customers + scores with generate_series, drops the
search indexes of migration 0004 (phone, lower(email), loyalty score), runs profiles.search queries (median of
5, plus one keyset page in the middle), recreates the indexes and runs them again: side by side in one run.
"""
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
BASE = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
INDEXES = {
    "ix_customers_email_lower": "CREATE INDEX ix_customers_email_lower ON customers (lower(email))",
    "ix_customers_phone": "CREATE INDEX ix_customers_phone ON customers (phone)",
    "ix_customer_scores_loyalty_score": "CREATE INDEX ix_customer_scores_loyalty_score ON customer_scores (loyalty_score)",
}
schema = f"bench_search_{uuid.uuid4().hex[:6]}"
admin = create_engine(BASE)
with admin.begin() as c:
    c.execute(text(f'CREATE SCHEMA "{schema}"'))
url = make_url(BASE).update_query_dict({"options": f"-csearch_path={schema},public"}).render_as_string(hide_password=False)
os.environ["DATABASE_URL"] = url
from profiles.db import get_engine, init_db  # noqa: E402
from profiles.search import SearchQuery, search_customers  # noqa: E402

try:
    init_db()
    eng = get_engine()
    t0 = time.time()
    with eng.begin() as c:
        c.execute(text("""
          INSERT INTO customers (id, first_name, last_name, email, phone, address, region, age, job, marital, education,
            credit_default, housing_loan, personal_loan, contact_channel, marketing_consent, created_at, version)
          SELECT g, (ARRAY['Maria','José','Ana','João','Rita','Tiago','Hugo','Inês'])[1 + g % 8],
                 (ARRAY['Silva','Santos','Ferreira','Gonçalves','Correia','Nunes','Vieira','Costa','Marques','Rocha'])[1 + (g / 8) % 10]
                   || ' ' || (ARRAY['Lopes','Pinto','Alves','Moreira','Sousa','Rodrigues','Teixeira'])[1 + (g / 80) % 7] || g::text,
                 'user' || g || '@example.com', '+35191' || lpad(g::text, 7, '0'), 'Rua X ' || g || ', 1000-001 Lisboa',
                 'Centro', 20 + g % 60, 'services', 'single', 'secondary', false, false, false, 'cellular', g % 2 = 0, now(), 1
          FROM generate_series(1, :n) g"""), {"n": N})
        c.execute(text("""
          INSERT INTO customer_scores (customer_id, clv, churn_probability, segment, loyalty_score, model_versions, computed_at)
          SELECT g, (g::bigint * 7919 % 10000)::float, ((g::bigint * 104729) % 1000) / 1000.0,
                 (ARRAY['Multi-product customers','Low-balance customers','Debt-free','families','retirees'])[1 + g % 5],
                 ((g * 31) % 100) / 100.0, '{}'::json, now() FROM generate_series(1, :n) g"""), {"n": N})
        for name in INDEXES:
            c.execute(text(f'DROP INDEX "{name}"'))
        c.execute(text("ANALYZE"))
    print(f"{N} customers loaded in {time.time() - t0:.1f} s")
    queries = {
        "name 'gonç' (partial)": SearchQuery(name="gonç"),
        "name 'silva pinto12' (rare)": SearchQuery(name="silva pinto12"),
        "email (whole)": SearchQuery(email=f"USER{N // 2}@example.com"),
        "phone (normalised)": SearchQuery(phone=f"91 {N // 3:07d}"),
        "segment + churn >= 0.9": SearchQuery(segment="families", min_churn=0.9),
        "clv >= 9990": SearchQuery(min_clv=9990),
        "loyalty >= 0.99": SearchQuery(min_loyalty=0.99),
    }

    def measure(label: str) -> None:
        print(f"-- {label}")
        for name, q in queries.items():
            times = []
            for _ in range(5):
                t = time.perf_counter()
                page = search_customers(q, limit=20)
                times.append(time.perf_counter() - t)
            deep = time.perf_counter()
            search_customers(q, limit=20, after_id=N // 2)
            deep = time.perf_counter() - deep
            print(f"{name:32s} median {statistics.median(times) * 1000:8.1f} ms  hits(page) {len(page.items):3d}  keyset page at id {N // 2}: {deep * 1000:7.1f} ms")

    measure("without the search indexes")
    t0 = time.time()
    with eng.begin() as c:
        for ddl in INDEXES.values():
            c.execute(text(ddl))
        c.execute(text("ANALYZE"))
    print(f"indexes built in {time.time() - t0:.1f} s")
    measure("with migration 0004's indexes")
finally:
    from profiles.db import reset_engine
    reset_engine()
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
