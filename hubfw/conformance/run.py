"""`run_conformance`: the named scenarios on any `HilBench`, each a verdict with evidence, and the DUT's OTA client
profile, all judged from what the hub heard and logged (never from a simulated device's insides).

Timeouts are the bench's seconds: virtual on the simulator, wall-clock on a real bench, there multiplied by
`timeout_scale`. Between scenarios the run restores a known state: faults cleared, no transfer of the DUT in
progress, and every scenario distributes an image with a fresh (higher) version.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.conformance.observe import FrameLog, Seen, first
from hubfw.conformance.profile import client_profile
from hubfw.conformance.report import ConformanceReport, ScenarioResult
from hubfw.devices import DeviceType
from hubfw.errors import HubfwError
from hubfw.hub.core import NoGbcsKeys
from hubfw.ota.image import IMAGE_INTEGRITY_CODE_TAG, OtaImage, build_image
from hubfw.sim.hil.bench import HilBench, HilTimeout

HOUR = 3600.0
RESTART_DOWN_S = 30.0
"""How long the simulated hub stays off in resume-after-restart: long enough for the DUT's request to go
unanswered, shorter than the minute a device may take to give up."""


HUB_OPENED_TUNNELS = (DeviceType.PPMID, DeviceType.HCALCS, DeviceType.ESME)
"""The devices whose GBCS tunnel the hub requests (GBCS 10.2.2.1); a GSME requests its own."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds on the bench's clock (before `timeout_scale`)."""

    notify_answer: float = 300.0
    """An ImageNotify is answered by a QueryNextImage within this (a mains device answers within seconds)."""
    transfer: float = 4 * HOUR
    activation: float = HOUR
    resume: float = 2 * HOUR
    """A device must carry on within this after an interruption."""
    requery: float = 26 * HOUR
    """After an ABORT the device queries afresh within this (its daily query at the latest)."""
    never_offered: float = 600.0
    """After its query was refused, watch this long that no transfer of that image starts."""
    replay_silence: float = 300.0
    """After a replayed GBCS command, watch this long that the device does not answer it."""

    @classmethod
    def for_device(cls, device_type: DeviceType) -> Timeouts:
        if device_type is DeviceType.GSME:  # sleepy: a notify waits for its long poll, blocks are paced
            return cls(notify_answer=HOUR + 300, transfer=48 * HOUR, resume=6 * HOUR, replay_silence=HOUR + 300)
        return cls()


ScenarioFn = Callable[["Run"], Awaitable[ScenarioResult]]
SCENARIOS: dict[str, tuple[ScenarioFn, str]] = {}
"""Name -> (scenario, one line saying what it checks), in the order a run takes them."""


def scenario(name: str, what: str) -> Callable[[ScenarioFn], ScenarioFn]:
    def register(function: ScenarioFn) -> ScenarioFn:
        SCENARIOS[name] = (function, what)
        return function
    return register


class Images:
    """Test images with fresh versions: the caller's image first, then the same payload rebuilt with the next
    versions (signed with `sign_key` when given, as the bench's devices need; unsigned, with an image integrity code
    when the caller's image has one, so a device that checks only that still detects a corrupted download)."""

    def __init__(self, image: bytes, sign_key: ec.EllipticCurvePrivateKey | None) -> None:
        self.original = image
        self.parsed = OtaImage.parse(image)
        self.sign_key = sign_key
        self.next_version = self.parsed.header.file_version
        self.issued = 0

    def fresh(self, hardware: tuple[int, int] | None = None) -> tuple[bytes, int]:
        """The next image and its version; `hardware` overrides its hardware version range."""
        version = self.next_version
        self.next_version += 1
        self.issued += 1
        if self.issued == 1 and hardware is None:
            return self.original, version
        header = self.parsed.header
        low, high = hardware or (header.min_hw_version, header.max_hw_version)
        image = build_image(manufacturer_code=header.manufacturer_code, image_type=header.image_type,
                            file_version=version, payload=self.parsed.manufacturer_image,
                            header_string=f"hubfw conformance 0x{version:08X}", min_hw_version=low,
                            max_hw_version=high, sign_key=self.sign_key,
                            integrity_code=self.sign_key is None and any(
                                element.tag == IMAGE_INTEGRITY_CODE_TAG for element in self.parsed.sub_elements))
        return image.to_bytes(), version


@dataclass
class Run:
    """One conformance run's state: the bench, the DUT, what the hub heard, the images handed out."""

    bench: HilBench
    dut: t.EUI64
    device_type: DeviceType
    images: Images
    log: FrameLog
    scale: float = 1.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    running_version: int | None = None
    """The version the DUT runs, as last observed (its queries, its activation)."""
    flashed: dict[str, Any] = field(default_factory=dict)
    """The last successful flash: version, alerts (for tunnel-8f8b)."""

    def now(self) -> float:
        return self.bench.hub.clock.now()

    async def wait(self, goal: Callable[[], bool], seconds: float) -> bool:
        """Whether `goal()` came true within `seconds` (scaled); the frame log follows hub restarts."""
        def watched() -> bool:
            self.log.attach(self.bench.hub)
            return goal()
        try:
            await self.bench.wait_until(watched, seconds * self.scale)
        except HilTimeout:
            return False
        return True

    async def set_fault(self, kind: str, **options: Any) -> None:
        """Raises `FaultUnavailable` when the hub cannot inject this kind."""
        from hubfw.hub.faults import Fault, FaultKind
        try:
            await _maybe_await(self.bench.set_fault(self.dut, Fault(FaultKind(kind), **options)))
        except (HubfwError, NotImplementedError, ValueError) as exc:
            raise FaultUnavailable(f"the hub cannot inject {kind}: {exc}") from exc

    async def clear_faults(self) -> None:
        await _maybe_await(self.bench.clear_faults(self.dut))

    async def fault_history(self) -> list[dict[str, Any]]:
        return list(await _maybe_await(self.bench.fault_history(self.dut)) or [])

    def alerts(self, mark: int = 0) -> list[TransferAlert]:
        return self.bench.alerts(self.dut)[mark:]

    def alert(self, mark: int, code: AlertCode, version: int) -> TransferAlert | None:
        return next((alert for alert in self.alerts(mark) if alert.code is code
                     and alert.firmware_version == version), None)

    def distribute(self, image: bytes) -> dict[str, Any]:
        self.log.attach(self.bench.hub)
        return self.bench.distribute(image, [self.dut], self.device_type)

    def distribute_fresh(self) -> tuple[bytes, int, int, int, dict[str, Any]]:
        """A new image version to the DUT: (image, version, frame-log mark, alert count before, distribute result),
        what every scenario judging a transfer starts from."""
        image, version = self.images.fresh()
        mark, alerts = self.log.mark(), len(self.alerts())
        return image, version, mark, alerts, self.distribute(image)

    def offset(self) -> int:
        entry = self.bench.transfer(self.dut)
        return 0 if entry is None else int(entry.get("offset") or 0)

    async def restore(self, power_cycle: bool = False) -> None:
        """Faults cleared, the DUT power-cycled if asked (after a failed scenario, when the bench can: a device left
        stuck must not fail the scenarios after), no transfer of the DUT in progress (a waiting target is
        replaced by the next image), and on a CBKE bench the hub's tunnel to a PPMID, HCALCS or ESME open again."""
        await self.clear_faults()
        cycle = getattr(self.bench, "power_cycle_dut", None)
        if power_cycle and cycle is not None:
            await cycle()
        await self.wait(lambda: (self.bench.transfer(self.dut) or {}).get("state") in (None, "waiting"),
                        self.timeouts.transfer)
        if getattr(self.bench, "cbke", False) and self.device_type in HUB_OPENED_TUNNELS:
            # A scenario that broke the key or the tunnel (cbke-foreign-ca, a power cycle) leaves the hub asking for
            # the tunnel again with growing waits (GBCS 10.2.2.1): the next scenario starts once it is back.
            await self.wait(lambda: self.bench.han_view(self.dut).get("tunnel") == "open", self.timeouts.activation)

    async def flash(self, image: bytes, version: int, mark: int, alerts: int,
                    stored: dict[str, Any]) -> dict[str, Any]:
        """Wait for the transfer of `version` to end and (PPMID: by itself; others: on the hub's command) activate;
        the evidence: how it ended, the alerts, timings."""
        start = self.now()
        ended = await self.wait(lambda: self.alert(alerts, AlertCode.TRANSFER_SUCCESS, version) is not None
                                or self.alert(alerts, AlertCode.TRANSFER_FAILURE, version) is not None,
                                self.timeouts.transfer)
        success = self.alert(alerts, AlertCode.TRANSFER_SUCCESS, version)
        evidence: dict[str, Any] = {"version": f"0x{version:08X}",
                                    "ended": "success" if success else "failure" if ended else "timeout",
                                    "transfer_s": round(self.now() - start, 1)}
        if success is None:
            return evidence
        if self.device_type is DeviceType.PPMID:
            activated = await self.wait(lambda: self.alert(alerts, AlertCode.ACTIVATION, version) is not None,
                                        self.timeouts.activation)
            evidence["activated"] = activated
        else:
            try:
                answer = await self.bench.activate(self.dut, bytes.fromhex(stored["manufacturer_image_sha256"]),
                                                   self.timeouts.activation)
            except HilTimeout:
                answer = {"command": "CS06", "response_code_name": "no response"}
            if "command" in answer:  # CS06 through the tunnel: the device's checked answer says
                evidence["activated"] = answer["response_code_name"]
                activated = answer.get("response_code") == 0 and answer.get("authentic", False)
            else:  # the ZCL way: nothing comes back
                evidence["activated"] = "commanded"
                activated = True
        if activated:
            self.running_version = version
            self.flashed = {"version": version, "alerts_mark": alerts}
        return evidence

    def alert_evidence(self, mark: int) -> list[dict[str, Any]]:
        return [{"code": f"0x{int(alert.code):04X}", "version": f"0x{alert.firmware_version:08X}",
                 "response": None if alert.transfer_response is None else alert.transfer_response.name,
                 "source": alert.source} for alert in self.alerts(mark)]


class BenchLacks(HubfwError):
    """The bench cannot do what a scenario needs: the scenario is not run (the message says why)."""


class FaultUnavailable(BenchLacks):
    """The bench's hub does not inject the fault a scenario needs."""


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _unsuccessful(evidence: dict[str, Any]) -> list[str]:
    """The problem when the transfer `Run.flash` watched did not end in success."""
    return [] if evidence["ended"] == "success" else [f"the transfer ended in {evidence['ended']}"]


def _verdict(name: str, problems: list[str], evidence: dict[str, Any]) -> ScenarioResult:
    if problems:
        evidence = {"why": "; ".join(problems), **evidence}
    return ScenarioResult(name, "fail" if problems else "pass", evidence)


def not_run(name: str, why: str) -> ScenarioResult:
    return ScenarioResult(name, "not-run", {"why": why})


def _gaps(requests: list[Seen]) -> list[float]:
    return [later.at - earlier.at for earlier, later in zip(requests, requests[1:])]


# ----------------------------------------------------------------------------------------------- scenarios


@scenario("cbke-foreign-ca", "a hub certificate from a foreign CA is refused, and key establishment is retried")
async def cbke_foreign_ca(run: Run) -> ScenarioResult:
    name = "cbke-foreign-ca"
    if not getattr(run.bench, "cbke", False):
        return not_run(name, "the hub runs no key establishment")
    if run.dut in run.bench.hub.app.devices:
        return not_run(name, "the DUT joined before the run; key establishment runs only when it joins")
    await run.set_fault("cbke-foreign-ca")
    await run.bench.admit(run.dut, run.bench.dut_install_code)
    history = await run.fault_history()
    acted = any(entry.get("event") == "acted" and entry.get("kind") == "cbke-foreign-ca" for entry in history)
    keyed = await run.wait(lambda: run.bench.han_view(run.dut).get("key_establishment") is not None,
                           run.timeouts.resume)
    problems = [] if acted else ["the fault never acted (the DUT ran no key establishment)"]
    if not keyed:
        problems.append("the DUT did not retry key establishment after the refusal")
    return _verdict(name, problems, {"key_establishment": run.bench.han_view(run.dut).get("key_establishment")})


@scenario("happy-path", "an ImageNotify is answered, the image flashed within the image, activated (PPMID: 0x8F8B)")
async def happy_path(run: Run) -> ScenarioResult:
    image, version = run.images.fresh()
    mark, alerts, t0 = run.log.mark(), len(run.alerts()), run.now()
    stored = run.distribute(image)
    answered = await run.wait(lambda: bool(run.log.since(mark, "query_next_image", direction="rx")),
                              run.timeouts.notify_answer)
    query = first(run.log.since(mark, "query_next_image", direction="rx"))
    evidence: dict[str, Any] = {"from_version": None if query is None else
                                f"0x{query.fields['current_file_version']:08X}"}
    if answered and query is not None:
        evidence["notify_to_query_s"] = round(query.at - t0, 1)
    evidence.update(await run.flash(image, version, mark, alerts, stored))
    problems = []
    if not answered:
        problems.append(f"no QueryNextImage within {run.timeouts.notify_answer * run.scale:.0f} s of the ImageNotify")
    problems += _unsuccessful(evidence)
    requests = run.log.transfer_requests(mark, version)
    past = [seen.fields["offset"] for seen in requests if seen.fields.get("offset", 0) >= len(image)]
    if past:
        problems.append(f"asked for data past the end of the {len(image)}-byte image (offsets {past[:3]})")
    ends = [seen.fields["status"] for seen in run.log.since(mark, "upgrade_end", direction="rx")]
    evidence["upgrade_end"] = ends
    if evidence["ended"] == "success" and ends[-1:] != ["SUCCESS"]:
        problems.append(f"UpgradeEnd statuses {ends}")
    if run.device_type is DeviceType.PPMID and evidence["ended"] == "success":
        activation = run.alert(alerts, AlertCode.ACTIVATION, version)
        tunnel = run.bench.han_view(run.dut).get("tunnel") == "open"
        if activation is None:
            problems.append("no 0x8F8B for the new version")
        elif tunnel and activation.source != "tunnel":
            problems.append(f"the 0x8F8B came from the hub's version read ({activation.source}), not the PPMID "
                            "through its open tunnel")
    evidence["alerts"] = run.alert_evidence(alerts)
    return _verdict("happy-path", problems, evidence)


@scenario("tunnel-8f8b", "the hub opened the PPMID's GBCS tunnel and the PPMID's own 0x8F8B came through it")
async def tunnel_8f8b(run: Run) -> ScenarioResult:
    name = "tunnel-8f8b"
    if run.device_type is not DeviceType.PPMID:
        return not_run(name, "only a PPMID raises its own 0x8F8B")
    if not getattr(run.bench, "cbke", False):
        return not_run(name, "the hub runs no key establishment, so no tunnel")
    if not run.flashed:
        image, version = run.images.fresh()
        mark, alerts = run.log.mark(), len(run.alerts())
        await run.flash(image, version, mark, alerts, run.distribute(image))
    if not run.flashed:
        return _verdict(name, ["the DUT could not be flashed, so it had no 0x8F8B to send"], {})
    version, alerts = run.flashed["version"], run.flashed["alerts_mark"]
    view = run.bench.han_view(run.dut)
    activation = run.alert(alerts, AlertCode.ACTIVATION, version)
    problems = []
    if view.get("tunnel_opened_by") != "hub":
        problems.append(f"the tunnel was opened by {view.get('tunnel_opened_by')}, not the hub")
    if activation is None or activation.source != "tunnel":
        problems.append("the 0x8F8B did not come through the tunnel" if activation else "no 0x8F8B")
    return _verdict(name, problems, {**view, "version": f"0x{version:08X}",
                                     "alert_source": None if activation is None else activation.source})


async def _interrupted_transfer(run: Run, name: str, interrupt: Callable[[], Awaitable[dict[str, Any]]],
                                at_fraction: float = 0.4) -> ScenarioResult:
    """Distribute, interrupt once the hub served `at_fraction` of the image, then the DUT must carry on from the
    offset it held (not from 0) and finish."""
    image, version, mark, alerts, stored = run.distribute_fresh()
    reached = await run.wait(lambda: run.offset() >= len(image) * at_fraction, run.timeouts.transfer)
    if not reached:
        return _verdict(name, ["the transfer never got under way"], {"offset": run.offset()})
    before = run.log.transfer_requests(mark, version)
    held = max(seen.fields["offset"] for seen in before)
    during_mark = run.log.mark()
    evidence = await interrupt()
    after_mark = run.log.mark()
    resumed = await run.wait(lambda: bool(run.log.transfer_requests(after_mark, version)), run.timeouts.resume)
    problems = []
    if not resumed:
        problems.append(f"no block request within {run.timeouts.resume * run.scale:.0f} s after the interruption")
        return _verdict(name, problems, {**evidence, "held_offset": held})
    again = run.log.transfer_requests(after_mark, version)[0]
    lowest = min(seen.fields["offset"] for seen in run.log.transfer_requests(during_mark, version))
    evidence.update({"held_offset": held, "resumed_offset": again.fields["offset"], "lowest_offset_after": lowest,
                     "resumed_after_s": round(again.at - evidence.get("interrupted_at", again.at), 1)})
    evidence.pop("interrupted_at", None)
    if lowest < held:
        problems.append(f"went back to offset {lowest}, before the {held} it held")
    evidence.update(await run.flash(image, version, mark, alerts, stored))
    return _verdict(name, problems + _unsuccessful(evidence), evidence)


@scenario("resume-after-silence", "after the hub fell silent for two minutes the DUT carries on from its offset")
async def resume_after_silence(run: Run) -> ScenarioResult:
    name = "resume-after-silence"
    silence = 120.0

    async def interrupt() -> dict[str, Any]:
        at = run.now()
        await run.set_fault("silence", seconds=silence * run.scale)
        await run.wait(lambda: run.now() >= at + silence * run.scale, 2 * silence)
        return {"silence_s": silence * run.scale, "interrupted_at": at + silence * run.scale}

    return await _interrupted_transfer(run, name, interrupt)


@scenario("resume-after-restart", "after a hub restart mid-transfer the DUT carries on from its offset")
async def resume_after_restart(run: Run) -> ScenarioResult:
    name = "resume-after-restart"
    restart = getattr(run.bench, "restart_hub", None)
    if restart is None:
        return not_run(name, "the bench cannot restart the hub")

    async def interrupt() -> dict[str, Any]:
        at = run.now()
        if "down_for" in inspect.signature(restart).parameters:
            await restart(down_for=RESTART_DOWN_S)
        else:
            await restart()
        run.log.attach(run.bench.hub)
        return {"hub_down_s": round(run.now() - at, 1), "interrupted_at": at}

    return await _interrupted_transfer(run, name, interrupt)


@scenario("wait-for-data", "after WAIT_FOR_DATA for T seconds no block request comes before T has passed")
async def wait_for_data(run: Run) -> ScenarioResult:
    name = "wait-for-data"
    wait = 300
    image, version, mark, alerts, stored = run.distribute_fresh()
    if not await run.wait(lambda: run.offset() >= len(image) // 4, run.timeouts.transfer):
        return _verdict(name, ["the transfer never got under way"], {})
    await run.set_fault("block-wait", seconds=wait)

    def waited() -> Seen | None:
        return first(seen for seen in run.log.since(mark, "image_block_response", direction="tx")
                     if seen.fields.get("status") == "WAIT_FOR_DATA")

    if not await run.wait(lambda: waited() is not None, run.timeouts.resume):
        return _verdict(name, ["the hub never had a block request to answer WAIT_FOR_DATA"], {})
    told = waited()
    assert told is not None
    await run.wait(lambda: any(seen.at > told.at for seen in run.log.transfer_requests(mark, version)),
                   run.timeouts.resume + wait)
    nxt = first(seen for seen in run.log.transfer_requests(mark, version) if seen.at > told.at)
    evidence: dict[str, Any] = {"wait_s": told.fields.get("wait"),
                                "next_request_after_s": None if nxt is None else round(nxt.at - told.at, 1)}
    problems = []
    if nxt is None:
        problems.append("no block request after the wait")
    elif nxt.at - told.at < told.fields.get("wait", wait) - 1:
        problems.append(f"asked again after {nxt.at - told.at:.1f} s of a {told.fields.get('wait')} s wait")
        await run.clear_faults()  # the verdict is in: end the wait rather than answer a hammering DUT all along
    evidence.update(await run.flash(image, version, mark, alerts, stored))
    return _verdict(name, problems + _unsuccessful(evidence), evidence)


@scenario("minimum-block-period", "block requests come no faster than the MinimumBlockPeriod the hub set")
async def minimum_block_period(run: Run) -> ScenarioResult:
    name = "minimum-block-period"
    period_ms = 2000
    image, version, mark, alerts, stored = run.distribute_fresh()
    if not await run.wait(lambda: run.offset() > 0, run.timeouts.transfer):
        return _verdict(name, ["the transfer never got under way"], {})
    await run.set_fault("block-wait", seconds=1, minimum_block_period=period_ms)
    evidence = await run.flash(image, version, mark, alerts, stored)
    told = first(seen for seen in run.log.since(mark, "image_block_response", direction="tx")
                 if seen.fields.get("status") == "WAIT_FOR_DATA")
    problems = []
    if told is None:
        return _verdict(name, ["the hub never sent the MinimumBlockPeriod"], evidence)
    after = [seen for seen in run.log.transfer_requests(mark, version) if seen.at > told.at]
    gaps = _gaps(after)
    tolerance = 0.05 * period_ms / 1000
    evidence.update({"minimum_block_period_ms": period_ms, "gaps_measured": len(gaps),
                     "shortest_gap_s": None if not gaps else round(min(gaps), 3)})
    if not gaps:
        problems.append("too few block requests after the period was set to measure")
    elif min(gaps) < period_ms / 1000 - tolerance:
        fast = sum(gap < period_ms / 1000 - tolerance for gap in gaps)
        problems.append(f"{fast} of {len(gaps)} block requests came sooner than {period_ms} ms after the last")
    return _verdict(name, problems + _unsuccessful(evidence), evidence)


@scenario("abort-then-query", "after an ABORT the DUT stops asking for blocks and queries afresh")
async def abort_then_query(run: Run) -> ScenarioResult:
    name = "abort-then-query"
    image, version, mark, alerts, stored = run.distribute_fresh()
    await run.set_fault("block-abort", offset=len(image) // 3)

    def aborted() -> Seen | None:
        return first(seen for seen in run.log.since(mark, "image_block_response", direction="tx")
                     if seen.fields.get("status") == "ABORT")

    if not await run.wait(lambda: aborted() is not None, run.timeouts.transfer):
        return _verdict(name, ["the hub never answered ABORT (the transfer did not reach the offset)"], {})
    told = aborted()
    assert told is not None
    await run.wait(lambda: any(seen.name == "query_next_image" and seen.at > told.at
                               for seen in run.log.requests(mark)), run.timeouts.requery)
    later = [seen for seen in run.log.requests(mark) if seen.at > told.at]
    query_at = next((index for index, seen in enumerate(later) if seen.name == "query_next_image"), None)
    problems = []
    if query_at is None:
        problems.append(f"no QueryNextImage within {run.timeouts.requery * run.scale:.0f} s of the ABORT")
    elif query_at > 0:
        problems.append(f"{query_at} block request(s) after the ABORT before it queried")
    evidence: dict[str, Any] = {"abort_offset": len(image) // 3,
                                "query_after_s": None if query_at is None else round(later[query_at].at - told.at, 1)}
    if query_at is not None:
        evidence.update(await run.flash(image, version, mark, alerts, stored))
        later = [seen for seen in run.log.requests(mark) if seen.at > told.at]
        restart = first(seen for seen in later[query_at:] if seen.name in ("image_block", "image_page"))
        evidence["restart_offset"] = None if restart is None else restart.fields.get("offset")
    return _verdict(name, problems, evidence)


@scenario("corrupt-image-refused", "a download with a corrupted byte ends INVALID_IMAGE, 0x8F89, no activation")
async def corrupt_image_refused(run: Run) -> ScenarioResult:
    name = "corrupt-image-refused"
    old = run.running_version
    image, version, mark, alerts, stored = run.distribute_fresh()
    await run.set_fault("block-corrupt", offset=len(image) // 2, times=None)  # every time it is served
    evidence = await run.flash(image, version, mark, alerts, stored)
    asked = first(run.log.since(mark, "query_next_image", direction="rx"))
    old = old if asked is None else asked.fields["current_file_version"]
    ends = [seen.fields["status"] for seen in run.log.since(mark, "upgrade_end", direction="rx")]
    failure = run.alert(alerts, AlertCode.TRANSFER_FAILURE, version)
    problems = []
    if "INVALID_IMAGE" not in ends:
        problems.append(f"UpgradeEnd statuses {ends or 'none'}, not INVALID_IMAGE")
    if failure is None:
        problems.append("no 0x8F89 for the corrupted image")
    if run.alert(alerts, AlertCode.ACTIVATION, version) is not None or evidence.get("activated") is True:
        problems.append("the DUT activated the corrupted image")
    evidence.update({"upgrade_end": ends, "alerts": run.alert_evidence(alerts),
                     "transfer_response": None if failure is None or failure.transfer_response is None
                     else failure.transfer_response.name})
    # The version it runs: its next query for a fresh image says it.
    await run.restore()
    check, check_version = run.images.fresh()
    mark2, alerts2 = run.log.mark(), len(run.alerts())
    stored2 = run.distribute(check)
    await run.wait(lambda: bool(run.log.since(mark2, "query_next_image", direction="rx")), run.timeouts.requery)
    query = first(run.log.since(mark2, "query_next_image", direction="rx"))
    runs = None if query is None else query.fields["current_file_version"]
    evidence["version_after"] = None if runs is None else f"0x{runs:08X}"
    if runs == version:
        problems.append("the DUT runs the corrupted image's version")
    elif old is not None and runs is not None and runs != old:
        problems.append(f"the DUT runs 0x{runs:08X}, not its old 0x{old:08X}")
    if query is not None:
        await run.flash(check, check_version, mark2, alerts2, stored2)
    return _verdict(name, problems, evidence)


@scenario("hardware-mismatch", "an image whose hardware range excludes the DUT is never offered to it")
async def hardware_mismatch(run: Run) -> ScenarioResult:
    name = "hardware-mismatch"
    versions = {seen.fields.get("hardware_version") for seen in run.log.since(0, "query_next_image", direction="rx")}
    if not versions:
        return not_run(name, "the DUT has not queried yet, so its hardware version is unknown")
    if None in versions:
        return not_run(name, "the DUT sends no hardware version in QueryNextImage: the hub cannot tell")
    hardware = max(versions)
    excluded = (hardware + 1, hardware + 1) if hardware < 0xFFFF else (0, hardware - 1)
    image, version = run.images.fresh(hardware=excluded)
    mark = run.log.mark()
    run.distribute(image)
    await run.wait(lambda: bool(run.log.since(mark, "query_next_image_response", direction="tx")),
                   run.timeouts.notify_answer + HOUR)
    answers = run.log.since(mark, "query_next_image_response", direction="tx")
    settle = run.now() + run.timeouts.never_offered * run.scale
    await run.wait(lambda: run.now() >= settle, run.timeouts.never_offered + 1)
    offered = [seen for seen in answers if seen.fields.get("file_version") == version]
    fetched = run.log.transfer_requests(mark, version)
    problems = []
    if offered:
        problems.append("the hub offered the image")
    if fetched:
        problems.append(f"the DUT asked for {len(fetched)} block(s) of it")
    evidence = {"hardware_version": hardware, "image_range": list(excluded),
                "answers": [seen.fields.get("status") for seen in answers]}
    if not answers:
        evidence["note"] = "the DUT did not query while the image waited"
    return _verdict(name, problems, evidence)


@scenario("takeover-mid-transfer", "a newer image distributed mid-transfer is taken over and activated")
async def takeover_mid_transfer(run: Run) -> ScenarioResult:
    name = "takeover-mid-transfer"
    image, version = run.images.fresh()
    mark, alerts = run.log.mark(), len(run.alerts())
    run.distribute(image)
    if not await run.wait(lambda: run.offset() >= len(image) // 3, run.timeouts.transfer):
        return _verdict(name, ["the first transfer never got under way"], {})
    newer, newer_version = run.images.fresh()
    t0 = run.now()
    try:
        stored = run.distribute(newer)
    except HubfwError as exc:
        return not_run(name, f"the hub keeps this device type's transfer: {exc}")
    evidence = await run.flash(newer, newer_version, mark, alerts, stored)
    first_new = first(run.log.transfer_requests(mark, newer_version))
    old_ends = [seen for seen in run.log.since(mark, "upgrade_end", direction="rx")
                if seen.fields.get("file_version") == version]
    evidence.update({"first_version": f"0x{version:08X}",
                     "takeover_s": None if first_new is None else round(first_new.at - t0, 1),
                     "alerts": run.alert_evidence(alerts)})
    problems = []
    if evidence["ended"] != "success":
        problems.append(f"the newer image's transfer ended in {evidence['ended']}")
    if old_ends:
        problems.append("the DUT ended the replaced image's transfer")
    if run.alert(alerts, AlertCode.ACTIVATION, version) is not None:
        problems.append("the replaced image was activated")
    return _verdict(name, problems, evidence)


COMMANDED_ACTIVATION = (DeviceType.ESME, DeviceType.GSME, DeviceType.HCALCS)
"""Who waits for CS06 to activate (GBCS: a PPMID activates at once)."""
READS_VERSION = (DeviceType.PPMID, DeviceType.HCALCS)
"""Who answers CS08 Read PPMID/HCALCS Firmware Version."""


async def _not_for_this_dut(run: Run, name: str, kinds: tuple[DeviceType, ...],
                            other_kind: str) -> ScenarioResult | None:
    """The not-run result of a GBCS command scenario whose DUT is not of `kinds` (`other_kind` says why) or cannot be
    sent commands: a plain Zigbee DUT, no key establishment, or no GBCS tunnel open within the activation time (it
    opens after the DUT's CBKE); None when it can be run."""
    if run.device_type not in kinds:
        return not_run(name, other_kind)
    if getattr(run.bench, "activation", None) == "zcl":
        return not_run(name, "the bench's DUT is a plain Zigbee device, activated the ZCL way "
                             "(HUBFW_HIL_ACTIVATION=zcl)")
    if not getattr(run.bench, "cbke", False):
        return not_run(name, "the hub runs no key establishment, so the DUT has no GBCS tunnel")
    if not await run.wait(lambda: run.bench.han_view(run.dut).get("tunnel") == "open", run.timeouts.activation):
        return not_run(name, "the DUT's GBCS tunnel did not open")
    return None


async def _answered(command: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A GBCS command's checked answer (`HilBench.activate` / `read_version`), or `no response` when none came;
    BenchLacks when the bench's hub has no GBCS keys to build it with."""
    try:
        return await command
    except HilTimeout as exc:
        return {"response_code_name": "no response", "why": str(exc)}
    except NoGbcsKeys as exc:
        raise BenchLacks(str(exc)) from None


def _shown(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: answer.get(key) for key in ("response_code_name", "firmware_version", "signature", "mac",
                                             "authentic", "originator_counter")}


def _answers_to(run: Run, kind: str, counter: int) -> int:
    """How many answers to the `kind` command with this originator counter the DUT sent through its tunnel."""
    return sum(1 for message in run.bench.tunnel_messages(run.dut)
               if (message["decoded"].get("message") or "").startswith(kind)
               and message["decoded"].get("cra") == "response" and message["decoded"].get("originator_counter") == counter)


@scenario("cs06-activation", "CS06 with a wrong hash is refused (hashMismatch), a replayed CS06 gets no answer, and "
                             "the right one activates (SUCCESS, the new version, signed)")
async def cs06_activation(run: Run) -> ScenarioResult:
    name = "cs06-activation"
    skipped = await _not_for_this_dut(run, name, COMMANDED_ACTIVATION, "a PPMID activates at once: CS06 is for an ESME, "
                                                                 "GSME or HCALCS")
    if skipped is not None:
        return skipped
    image, version, mark, alerts, stored = run.distribute_fresh()
    await run.wait(lambda: run.alert(alerts, AlertCode.TRANSFER_SUCCESS, version) is not None
                   or run.alert(alerts, AlertCode.TRANSFER_FAILURE, version) is not None, run.timeouts.transfer)
    if run.alert(alerts, AlertCode.TRANSFER_SUCCESS, version) is None:
        return _verdict(name, [f"the transfer of 0x{version:08X} did not succeed, so there was nothing to activate"],
                        {"alerts": run.alert_evidence(alerts)})
    right = bytes.fromhex(stored["manufacturer_image_sha256"])
    timeout = run.timeouts.activation * run.scale
    problems: list[str] = []
    refused = await _answered(run.bench.activate(run.dut, bytes(octet ^ 0xFF for octet in right), timeout))
    evidence: dict[str, Any] = {"version": f"0x{version:08X}", "wrong_hash": _shown(refused)}
    if (refused["response_code_name"], refused.get("authentic")) != ("HASH_MISMATCH", True):
        problems.append(f"a CS06 naming another image's hash got {refused['response_code_name']}, not an authentic "
                        "HASH_MISMATCH")
    if "command_message" in refused:  # the same octets again: the counter is not above the last the DUT accepted
        counter = refused["originator_counter"]
        before = _answers_to(run, "CS06", counter)
        run.bench.tunnel_send(run.dut, bytes.fromhex(refused["command_message"]))
        await run.wait(lambda: _answers_to(run, "CS06", counter) > before, run.timeouts.replay_silence)
        evidence["replay_answers"] = _answers_to(run, "CS06", counter) - before
        if evidence["replay_answers"]:
            problems.append(f"answered a replayed CS06 (originator counter {counter} again)")
    accepted = await _answered(run.bench.activate(run.dut, right, timeout))
    evidence["right_hash"] = _shown(accepted)
    if (accepted["response_code_name"], accepted.get("firmware_version"), accepted.get("authentic")) != (
            "SUCCESS", f"0x{version:08X}", True):
        problems.append(f"the right CS06 got {accepted['response_code_name']} (firmware version "
                        f"{accepted.get('firmware_version')}), not an authentic SUCCESS with 0x{version:08X}")
    else:
        run.running_version = version
        run.flashed = {"version": version, "alerts_mark": alerts}
    return _verdict(name, problems, evidence)


@scenario("cs08-read-version", "CS08 Read PPMID/HCALCS Firmware Version is answered with the version the DUT runs, "
                               "MAC'd")
async def cs08_read_version(run: Run) -> ScenarioResult:
    name = "cs08-read-version"
    skipped = await _not_for_this_dut(run, name, READS_VERSION, "CS08 is for a PPMID or an HCALCS")
    if skipped is not None:
        return skipped
    answer = await _answered(run.bench.read_version(run.dut, run.timeouts.activation * run.scale))
    evidence = _shown(answer)
    problems = []
    if (answer["response_code_name"], answer.get("authentic")) != ("SUCCESS", True):
        problems.append(f"CS08 got {answer['response_code_name']}, not an authentic SUCCESS")
    elif run.running_version is not None and answer.get("firmware_version") != f"0x{run.running_version:08X}":
        problems.append(f"CS08 says {answer.get('firmware_version')}; the DUT was seen running "
                        f"0x{run.running_version:08X}")
    evidence["expected"] = None if run.running_version is None else f"0x{run.running_version:08X}"
    return _verdict(name, problems, evidence)


# ----------------------------------------------------------------------------------------------- the run


async def run_conformance(bench: HilBench, dut: t.EUI64, image: bytes, scenarios: Sequence[str] | None = None, *,
                          device_type: DeviceType | None = None, timeout_scale: float = 1.0,
                          sign_key: ec.EllipticCurvePrivateKey | None = None,
                          timeouts: Timeouts | None = None) -> ConformanceReport:
    """Run `scenarios` (default: all, in `SCENARIOS` order) against `dut` on a running `bench`, flashing `image`
    and fresh versions of it (signed with `sign_key`, by default the simulated bench's key). The DUT is admitted
    first if the hub does not know it yet."""
    device_type = device_type or bench.device_type
    names = list(SCENARIOS) if scenarios is None else list(scenarios)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise HubfwError(f"unknown scenario(s) {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    names = [name for name in SCENARIOS if name in names]
    simulated = hasattr(bench, "world")
    scale = 1.0 if simulated else timeout_scale
    key = sign_key if sign_key is not None else getattr(bench, "signing_key", None)
    log = FrameLog(dut, lambda: bench.hub.clock.now())
    log.attach(bench.hub)
    run = Run(bench, dut, device_type, Images(image, key), log, scale, timeouts or Timeouts.for_device(device_type))
    header = run.images.parsed.header
    described = "simulated bench (virtual time)" if simulated else f"{getattr(bench, 'description', 'bench')} " \
        f"(wall-clock, timeouts x{scale:g})"
    report = ConformanceReport(str(dut), device_type.value, described, clock="virtual" if simulated else "wall",
                               image={"manufacturer_code": f"0x{header.manufacturer_code:04X}",
                                      "image_type": f"0x{header.image_type:04X}",
                                      "file_version": f"0x{header.file_version:08X}", "bytes": len(image),
                                      "sha256": hashlib.sha256(image).hexdigest()})
    try:
        for name in names:
            if name != "cbke-foreign-ca" and dut not in bench.hub.app.devices:
                await bench.admit(dut, bench.dut_install_code)
            report.scenarios.append(await _one(run, name))
    finally:
        report.client_profile = client_profile(log)
        log.detach()
    return report


async def _one(run: Run, name: str) -> ScenarioResult:
    function, description = SCENARIOS[name]
    history = len(await run.fault_history())
    started, wall, mark = run.now(), time.monotonic(), run.log.mark()
    try:
        result = await function(run)
    except BenchLacks as exc:
        result = not_run(name, str(exc))
    except (HubfwError, asyncio.TimeoutError) as exc:
        result = ScenarioResult(name, "fail", {"why": f"{type(exc).__name__}: {exc}"})
    result.faults = (await run.fault_history())[history:]
    try:
        await run.restore(power_cycle=result.verdict == "fail")
    except HubfwError as exc:
        result.evidence.setdefault("restore", str(exc))
    result.duration_s = run.now() - started
    result.wall_s = time.monotonic() - wall
    result.started_at = started
    result.frames = run.log.since(mark)
    result.description = description
    return result


def run_conformance_sync(bench_factory: Callable[[], Any], *args: Any, **kwargs: Any) -> ConformanceReport:
    """`run_conformance` from synchronous code: `bench_factory()` makes a bench with async `start`/`stop`."""
    async def main() -> ConformanceReport:
        bench = bench_factory()
        await bench.start()
        try:
            return await run_conformance(bench, *args, **kwargs)
        finally:
            await bench.stop()
    return asyncio.run(main())
