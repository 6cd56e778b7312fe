"""Reading py-spy's collapsed stacks into CPU shares by area (`make bench --profile`)."""

from __future__ import annotations

from shared.bench.profile import area, read

SITE = "/work/main/.venv/lib/python3.12/site-packages"
STDLIB = "/usr/lib/python3.12"


def test_a_frame_belongs_to_its_package_the_suite_or_the_standard_library():
    assert area(f"{SITE}/sqlalchemy/orm/session.py") == "sqlalchemy"
    assert area(f"{SITE}/asyncpg/connection.py") == "asyncpg"
    assert area("/work/main/shared/shared/messaging/runtime.py") == "suite:shared"
    assert area("/work/main/services/escrow/escrow/domain/escrow.py") == "suite:escrow"
    assert area(f"{STDLIB}/asyncio/base_events.py") == "asyncio"
    assert area(f"{STDLIB}/json/decoder.py") == "stdlib"
    assert area("<frozen runpy>") == "other"


def test_shares_count_the_innermost_frame_as_self_and_each_area_once_per_stack(tmp_path):
    loop = f"_run_once ({STDLIB}/asyncio/base_events.py:1900)"
    batch = "receive_batch (/work/main/shared/shared/messaging/runtime.py:170)"
    execute = f"execute ({SITE}/sqlalchemy/orm/session.py:2300)"
    compile_ = f"_compile ({SITE}/sqlalchemy/sql/compiler.py:800)"
    send = f"_send ({SITE}/asyncpg/protocol.py:10)"
    stacks = tmp_path / "stacks.txt"
    stacks.write_text(
        f"{loop};{batch};{execute};{compile_} 6\n"
        f"{loop};{batch};{execute};{send} 3\n"
        f"{loop} 1\n"
        "a line that is not a stack\n"
    )
    profile = read(stacks, "a 256 in flight", "escrow")
    assert profile.samples == 10
    assert dict(profile.self_by_area) == {"sqlalchemy": 6, "asyncpg": 3, "asyncio": 1}
    # sqlalchemy is twice on the first stack but counted once per sample
    assert dict(profile.total_by_area) == {
        "asyncio": 10,
        "suite:shared": 9,
        "sqlalchemy": 9,
        "asyncpg": 3,
    }
    top = profile.self_by_function.most_common(1)[0]
    assert top == ("_compile (sqlalchemy/sql/compiler.py)", 6)
    assert profile.as_json()["self_by_area"]["sqlalchemy"] == 0.6
