"""Secrets created once, even when several processes start on a new instance at once."""

from concurrent.futures import ThreadPoolExecutor

from core.files import create_once


def test_create_once_has_exactly_one_winner_and_no_half_written_file(tmp_path):
    path = tmp_path / "secret.key"

    def attempt(n: int) -> tuple[bool, bytes]:
        made = create_once(path, f"value-{n}".encode() * 100)
        return made, path.read_bytes()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(32)))
    assert sum(made for made, _ in results) == 1
    assert len({content for _, content in results}) == 1  # everyone reads the winner's
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
