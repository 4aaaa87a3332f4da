"""The admission memory budget: checks run while their prices fit, in arrival order; the rest wait
briefly and are refused with a retry hint. Prices come from headers and cheap bounds."""

from __future__ import annotations

import asyncio

import pytest

from orfeas.admission import BYTES_PER_FACE, BYTES_PER_PIXEL, image_cost, mesh_cost
from orfeas.api.budget import AdmissionBudget, AdmissionBusy
from orfeas.errors import InputRejected
from orfeas.imaging.decode import image_size
from orfeas.mesh import exchange
from orfeas.mesh.exchange.untrusted import face_bound
from orfeas.settings import Settings
from tests.conftest import disc_rgba, png_bytes, png_claiming
from tests.mesh.corpus import box

MB = 1 << 20


async def _run(budget: AdmissionBudget, cost: int, log: list[str], name: str, seconds: float) -> None:
    async with budget.hold(cost):
        log.append(f"+{name}")
        await asyncio.sleep(seconds)
        log.append(f"-{name}")


@pytest.mark.unit
def test_checks_that_fit_run_together_and_the_rest_wait_their_turn() -> None:
    async def scenario() -> list[str]:
        budget = AdmissionBudget(100 * MB, wait_s=5)
        log: list[str] = []
        await asyncio.gather(
            _run(budget, 60 * MB, log, "a", 0.1),
            _run(budget, 40 * MB, log, "b", 0.1),
            _run(budget, 50 * MB, log, "c", 0.05),  # waits for room
            _run(budget, 10 * MB, log, "d", 0.01),  # would fit beside c, but came after it
        )
        assert budget.in_use == 0 and budget.waiting == 0
        return log

    log = asyncio.run(scenario())
    assert log[:2] == ["+a", "+b"]
    assert log.index("+c") > log.index("-a") and log.index("+d") > log.index("+c")


@pytest.mark.unit
def test_a_check_that_cannot_get_room_in_time_is_refused_with_a_retry_hint() -> None:
    async def scenario() -> AdmissionBusy:
        budget = AdmissionBudget(100 * MB, wait_s=0.2)
        log: list[str] = []
        hog = asyncio.create_task(_run(budget, 100 * MB, log, "hog", 1.0))
        await asyncio.sleep(0.05)
        with pytest.raises(AdmissionBusy) as caught:
            async with budget.hold(MB):
                pass
        await hog
        async with budget.hold(MB):  # room again once the hog is done
            pass
        return caught.value

    busy = asyncio.run(scenario())
    assert busy.code == "busy" and busy.retry_after >= 1 and "try again" in busy.message


@pytest.mark.unit
def test_a_check_priced_above_the_whole_budget_runs_alone() -> None:
    async def scenario() -> list[str]:
        budget = AdmissionBudget(100 * MB, wait_s=5)
        log: list[str] = []
        await asyncio.gather(
            _run(budget, 10 * MB, log, "small", 0.1), _run(budget, 900 * MB, log, "huge", 0.05)
        )
        return log

    assert asyncio.run(scenario()) == ["+small", "-small", "+huge", "-huge"]


@pytest.mark.unit
def test_room_is_given_back_when_the_check_fails() -> None:
    async def scenario() -> int:
        budget = AdmissionBudget(100 * MB, wait_s=0.1)
        with pytest.raises(InputRejected):
            async with budget.hold(80 * MB):
                raise InputRejected("bad file", code="corrupt")
        async with budget.hold(80 * MB):
            return budget.in_use

    assert asyncio.run(scenario()) == 80 * MB


@pytest.mark.unit
def test_prices_come_from_headers_and_cheap_bounds() -> None:
    settings = Settings(max_image_pixels=40_000_000)
    assert image_size(png_bytes(disc_rgba(64)), settings) == ("png", 64, 64)
    assert image_size(png_claiming(6000, 6000), settings) == ("png", 6000, 6000)  # header only
    with pytest.raises(InputRejected) as caught:
        image_size(png_claiming(30000, 30000), settings)
    assert caught.value.code == "too_many_pixels" and "40 MP" in caught.value.message
    assert image_cost(6000, 6000) > 36_000_000 * BYTES_PER_PIXEL
    stl = exchange.export(box(), "stl")
    assert face_bound(stl, 2_000_000) == 12
    assert face_bound(exchange.export(box(), "glb"), 2_000_000) == 12
    assert face_bound(exchange.export(box(), "ply"), 2_000_000) == 12
    assert 12 <= face_bound(exchange.export(box(), "3mf"), 2_000_000) < 100
    assert face_bound(b"not a mesh at all" * 100, 2_000_000) == 0
    assert face_bound(stl, 5) == 6  # a reader stops one past the cap
    assert mesh_cost(12) > 12 * BYTES_PER_FACE
    assert AdmissionBudget.from_settings(Settings()).capacity == Settings().admission_memory_bytes


@pytest.mark.security
def test_pricing_a_hostile_3mf_reads_no_more_than_its_directory() -> None:
    import io
    import zipfile

    from orfeas.mesh.exchange import threemf

    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(threemf.MAX_ENTRIES + 1):
            archive.writestr(f"3D/{i}.model", b"")
    assert face_bound(many.getvalue(), 2_000_000) == 0
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("3D/3dmodel.model", b" " * 70_000_000)  # 70 MB / 30 B > 2 M triangles
    assert face_bound(bomb.getvalue(), 2_000_000) == 2_000_001  # priced at the cap: the reader stops there
