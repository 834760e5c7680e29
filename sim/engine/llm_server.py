"""An LLM inference server: prefill, continuous batching of decodes, a KV cache, preemption.

Decoding sequences advance together: with ``b`` sequences running, every decoding sequence emits a
token each ``itl x factor(b) x slowdown`` seconds. The server keeps one *virtual token clock*
``v`` (tokens emitted per decoding sequence since it started) and gives each sequence the clock
value at which it is done, so a change of batch size costs one rescheduled event, not one event
per token. Prefill of each admitted sequence runs on its own timer (as in llm-d-inference-sim),
and its first token comes out of it: on an idle server TTFT = overhead + per_token x prompt and
the end comes (output - 1) x itl later.

KV cache (``kv_cache_tokens``): with ``preemption: none`` a sequence reserves prompt + output at
admission and waits until that fits; with ``recompute`` or ``swap`` it needs only its prompt, the
cache grows by one token per decoding sequence per step, and on overflow the newest sequence is
preempted back to the head of the waiting queue (recompute: prefill again over prompt and tokens
so far; swap: pay ``swap_per_token`` per cached token to come back; fail: it ends with a 500, as
an out-of-memory error would).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from sim.engine.attempt import SERVER_OVER, Attempt
from sim.engine.heap import Entry, pop, push
from sim.engine.kernel import Gauge
from sim.engine.server import Server

if TYPE_CHECKING:
    from sim.engine.kernel import Kernel
    from sim.engine.server import ServerOwner
    from sim.rng import Draws
    from sim.workload.service import ServiceTimes

__all__ = ["DECODE", "GONE", "PREFILL", "LlmServer", "Seq", "stale"]

# Final: compiled, a constant, not a lookup in the module's dict at every use
_EPS: Final = 1e-9
_KV_EPS: Final = 1e-6  # tokens: the cache counts as full this close to its size (float sums of large clocks)
WATERMARK: Final = 0.01  # share of the KV cache kept free at admission when sequences may grow
PREFILL: Final = 0
DECODE: Final = 1
GONE: Final = 2


class Seq:
    """A sequence the server runs: its attempt, tokens still to emit, and its place in the cache."""

    __slots__ = (
        "attempt",
        "kv_base",
        "order",
        "phase",
        "prefills",
        "remaining",
        "reserved",
        "resumed",
        "v_end",
        "v_join",
    )

    def __init__(self, attempt: Attempt, order: int) -> None:
        self.attempt = attempt
        self.order = order  # admission order: the newest is preempted first
        self.remaining = attempt.output_tokens - 1  # the first token comes out of prefill
        self.phase = PREFILL
        self.resumed = False
        self.prefills = 0  # prefills started: a preempted prefill's late event is recognised as stale
        self.reserved = 0.0  # cache tokens taken at admission (given back exactly, whatever happens since)
        self.kv_base = 0  # tokens in the cache when it joined the decoding batch
        self.v_join = 0.0
        self.v_end = 0.0

    def generated(self) -> int:
        """Tokens of the answer already out (0 before the first prefill; then the first token and
        those decoded before a preemption): what a resumed sequence holds in the cache."""
        if not self.resumed or math.isnan(self.attempt.first_token_s):
            return 0  # preempted before its first token: nothing of the answer is cached
        return self.attempt.output_tokens - self.remaining


def stale(entry: Entry) -> bool:
    """A heap entry of a sequence that left the batch since (finished, preempted, or resumed anew)."""
    seq: Seq = entry.item
    return seq.phase != DECODE or entry.rank != seq.order


class LlmServer(Server):
    """A ``Server`` whose service is the LLM token model (``service.kind == "llm"``)."""

    __slots__ = (
        "_prefilled_call",
        "_tick_call",
        "by_priority",
        "decoding",
        "epoch",
        "heap",
        "itl",
        "kv_capacity",
        "kv_decoding",
        "kv_fixed",
        "kv_gauge",
        "kv_reported",
        "kv_reported_s",
        "llm",
        "n_decoding",
        "order",
        "pending_s",
        "preemptions",
        "prefill_costs",
        "prefix",
        "rate",
        "reserve_all",
        "seqs",
        "suspended",
        "target_v",
        "tick_s",
        "v",
        "v_at_s",
    )

    def __init__(
        self,
        kernel: Kernel,
        cluster: ServerOwner,
        index: int,
        global_index: int,
        slots: int,
        queue_limit: int | None,
        service: ServiceTimes,
        fault_draws: Draws,
    ) -> None:
        super().__init__(kernel, cluster, index, global_index, slots, queue_limit, service, fault_draws)
        self.llm = cluster.spec.service
        self.itl = self.llm.itl  # seconds a token, read at every reschedule
        self.reserve_all = self.llm.preemption == "none"  # a sequence reserves prompt + answer at admission
        self.by_priority = self.llm.scheduling == "priority"  # its queue serves the highest priority first
        self.prefill_costs = (self.llm.prefill_overhead, self.llm.prefill_per_token)  # read at every admission
        self.kv_capacity = math.inf if self.llm.kv_cache_tokens is None else float(self.llm.kv_cache_tokens)
        self.seqs: dict[Attempt, Seq] = {}
        self.suspended: dict[Attempt, Seq] = {}  # preempted, waiting at the head of the queue
        self.heap: list[Entry] = []  # decoding sequences: key v_end, rank order, item the sequence
        self.v = 0.0
        self.v_at_s = 0.0
        self.rate = 0.0  # tokens per second per decoding sequence, as last scheduled
        self.target_v = 0.0  # the clock value the scheduled tick is for
        self.epoch = 0  # the step-level server's plan counter (this server's ticks go by time, below)
        self.tick_s = math.inf  # when the next decode event is due (inf: none is)
        self.pending_s: list[float] = []  # times of the tick events in the queue (at most a few)
        self.order = 0
        self.n_decoding = 0
        self.kv_fixed = 0.0  # cache tokens that do not grow: reservations and sequences in prefill
        self.kv_decoding = 0.0  # sum of (kv_base - v_join) over decoding sequences (growing mode)
        self.preemptions = 0
        self.kv_gauge: Gauge | None = None  # set by the model: KV tokens in use over every server
        self.kv_reported = 0.0
        self.kv_reported_s = math.nan  # when this server last reported (nan: never)
        self.decoding = self.llm.preemption != "none" and math.isfinite(self.kv_capacity)
        cache = self.llm.prefix_cache
        self.prefix: OrderedDict[int, None] | None = None if cache is None else OrderedDict()
        if self.prefix is not None:
            self.prefix_sessions = self.prefix
        # bound once, not at each admission and each tick (a bound method object each time)
        self._prefilled_call: Callable[[tuple[Seq, int]], None] = self._prefilled
        self._tick_call: Callable[[float], None] = self._tick

    # --- cache arithmetic -------------------------------------------------------------------
    def kv_used(self) -> float:
        """KV-cache tokens in use now (after ``_advance``)."""
        if not self.decoding:
            return self.kv_fixed  # reservations only: sequences do not grow into the cache
        return self.kv_fixed + self.kv_decoding + self.n_decoding * self.v

    def _need(self, attempt: Attempt, seq: Seq | None) -> float:
        """Cache tokens ``attempt`` holds from admission to its first decode step."""
        if self.reserve_all:
            return float(attempt.prompt_tokens + attempt.output_tokens)
        done = seq.generated() if seq is not None else 0
        return float(attempt.prompt_tokens + done)

    def _fits(self, attempt: Attempt) -> bool:
        """Room in the cache for ``attempt``. An empty server takes any request (else one larger
        than the cache would block its queue forever); with preemption, admission leaves a 1%
        watermark so that running sequences can grow before the next preemption (as vLLM does)."""
        if not self.seqs:
            return True
        seq = self.suspended.get(attempt) if self.suspended else None  # none without preemption
        if seq is None:  # _need of a sequence not yet started
            prompt = attempt.prompt_tokens
            need = float(prompt + attempt.output_tokens) if self.reserve_all else float(prompt)
        else:
            need = self._need(attempt, seq)
        if self.decoding:  # kv_used() + need against the room below the watermark
            used = self.kv_fixed + self.kv_decoding + self.n_decoding * self.v
            return used + need <= self.kv_capacity * (1.0 - WATERMARK) + _EPS
        return self.kv_fixed + need <= self.kv_capacity + _EPS

    def _report_kv(self, now_s: float) -> None:
        """Bring the KV gauge up to ``kv_used()`` at ``now_s``.

        A report that changes nothing at the instant of this server's last report is skipped: the
        gauge would add 0.0 to its value and 0.0 x 0 s to its area (the gauge's clock is at ``now_s``
        already: no server reports later than now), so its figures stay the same bit for bit.
        """
        gauge = self.kv_gauge
        if gauge is not None:
            used = self.kv_fixed + self.kv_decoding + self.n_decoding * self.v if self.decoding else self.kv_fixed
            if used != self.kv_reported or now_s != self.kv_reported_s:
                gauge.add(used - self.kv_reported, now_s)
                self.kv_reported = used
                self.kv_reported_s = now_s

    # --- admission ------------------------------------------------------------------------------
    def accept(self, attempt: Attempt) -> None:
        """Admit ``attempt`` to the batch when a slot and cache room are free and nobody waits; else queue it."""
        if self.down_count:
            self._refuse(attempt)
            return
        self._advance(self.kernel.now)
        queue = self.queue
        if queue and self.busy < self.slots:
            self._head()  # drops abandoned attempts at the head, which must not hold a new one back
        if not queue and self.busy < self.slots and self._fits(attempt):
            self.start(attempt)
            self._reschedule()
        elif self.queue_limit is not None and self.queued >= self.queue_limit:
            self._full(attempt)
        else:
            attempt.server = self
            attempt.enqueued_s = self.kernel.now
            self.queue.append(attempt)
            self._enqueued(attempt)

    def start(self, attempt: Attempt) -> None:
        """Put ``attempt`` in the batch: start (or resume) its prefill. Call ``_reschedule`` after."""
        now = self.kernel.now
        resumed = self.suspended.pop(attempt, None) if self.suspended else None
        self.busy += 1
        self.running[attempt] = None
        if resumed is None:
            self.in_flight += 1
            self.work_in_flight += attempt.work
            self.tokens_in_flight += attempt.tokens
            attempt.start_s = now
            attempt.server = self
            if self.error_fractions and self._fails(attempt):
                self.kernel.call_at(now + attempt.outcome_delay_s, self._error_done, attempt)
                return
            attempt.outcome = 200
            self.order += 1
            seq = Seq(attempt, self.order)
            prompt = attempt.prompt_tokens  # _need and generated(): a new sequence has generated nothing yet
            tokens = float(prompt)
            need = float(prompt + attempt.output_tokens) if self.reserve_all else tokens
        else:
            self.order += 1
            seq = resumed
            seq.order, seq.phase = self.order, PREFILL
            need = self._need(attempt, seq)
            tokens = float(attempt.prompt_tokens + seq.generated())
        seq.prefills += 1
        self.seqs[attempt] = seq
        seq.reserved = need
        self.kv_fixed += need
        # the prefill time over ``tokens`` (or, resumed after a swap, the time to swap its cache back in)
        if seq.resumed and self.llm.preemption == "swap":
            prefill_s = self.llm.swap_per_token * need * self.slow_factor
        else:
            prefix = self.prefix  # None unless the model has a prefix cache
            if prefix is not None and not seq.resumed and attempt.session in prefix:
                cache = self.llm.prefix_cache
                if cache is not None:
                    prefix.move_to_end(attempt.session)
                    tokens = attempt.prompt_tokens * (1.0 - cache.hit_share)
            overhead_s, per_token_s = self.prefill_costs
            prefill_s = (overhead_s + per_token_s * tokens) * self.slow_factor
        self.kernel.call_at(now + prefill_s, self._prefilled_call, (seq, seq.prefills))
        self._report_kv(now)

    def _prefilled(self, arg: tuple[Seq, int]) -> None:
        seq, prefill = arg
        if seq.phase != PREFILL or prefill != seq.prefills or self.seqs.get(seq.attempt) is not seq:
            return  # preempted, cancelled or lost in a crash meanwhile
        now = self.kernel.now
        if self.n_decoding and now > self.v_at_s:  # _advance(now)
            self.v += (now - self.v_at_s) * self.rate
        self.v_at_s = now
        attempt = seq.attempt
        first_s = attempt.first_token_s
        if first_s != first_s:  # math.isnan(first_s) without the call: no token out yet
            attempt.first_token_s = now
        remaining = seq.remaining
        if remaining <= 0:
            self._finish_seq(seq)
        else:  # it joins the decoding batch
            if self.decoding:
                self.kv_fixed -= seq.reserved
                seq.kv_base = attempt.prompt_tokens + attempt.output_tokens - remaining
            seq.phase = DECODE
            v = seq.v_join = self.v
            v_end = seq.v_end = v + remaining
            self.n_decoding += 1
            push(self.heap, Entry(v_end, seq.order, seq, None))
            if self.decoding:
                self.kv_decoding += seq.kv_base - v
        if self.queue or (self.central and self.cluster.central_queued):  # _after_change()
            self.pull()
        self._reschedule()
        self._report_kv(now)

    # --- the token clock ------------------------------------------------------------------------
    def _advance(self, now_s: float) -> None:
        if self.n_decoding and now_s > self.v_at_s:
            self.v += (now_s - self.v_at_s) * self.rate
        self.v_at_s = now_s

    def _reschedule(self) -> None:
        """Schedule the next decode event: a sequence's last token, or the cache overflowing.

        The event is due at ``tick_s``. A tick already in the queue at or before that time stands
        for it (``_tick`` moves it on when it comes early), so a batch that changes many times
        between two decode events queues one event, not one per change.
        """
        heap = self.heap
        while heap:  # drop stale entries at the top (``stale``)
            top = heap[0]
            seq: Seq = top.item
            if seq.phase == DECODE and top.rank == seq.order:
                break
            pop(heap)
        n_decoding = self.n_decoding
        if not n_decoding:
            self.rate = 0.0
            self.tick_s = math.inf
            return
        factors = self.factors
        factor = factors[self.busy] if factors is not None else 1.0
        rate = self.rate = 1.0 / (self.itl * factor * self.slow_factor)
        target = heap[0].key
        if self.decoding and len(self.seqs) > 1:  # a sequence alone is never preempted
            full_v = (self.kv_capacity - self.kv_fixed - self.kv_decoding) / n_decoding
            if full_v < target:  # min(target, full_v) without the call
                target = full_v
        self.target_v = target
        gap = target - self.v
        if gap < 0.0:  # max(gap, 0.0) without the call
            gap = 0.0
        delay_s = gap / rate
        at_s = self.tick_s = self.kernel.now + delay_s
        self._queue_tick(at_s)

    def _queue_tick(self, at_s: float) -> None:
        """Queue a tick at ``at_s`` unless one is queued at or before it (``_tick`` moves an early one on)."""
        for pending_s in self.pending_s:
            if pending_s <= at_s:
                return
        self.pending_s.append(at_s)
        self.kernel.call_at(at_s, self._tick_call, at_s)

    def _tick(self, at_s: float) -> None:
        pending = self.pending_s
        i = 0
        while pending[i] != at_s:  # pending.remove(at_s), with the floats compared unboxed
            i += 1
        pending.pop(i)
        tick_s = self.tick_s
        if at_s != tick_s:  # early (the batch changed since it was queued) or no longer wanted
            if tick_s != math.inf:  # move it on to tick_s, as _reschedule would queue it
                self._queue_tick(tick_s)
            return
        now = self.kernel.now
        v = self.v
        if self.n_decoding and now > self.v_at_s:  # _advance(now)
            v += (now - self.v_at_s) * self.rate
        self.v_at_s = now
        # the tick was due exactly when the clock reaches its target: set it there, so that a
        # delay shorter than the float resolution of the time cannot leave it a hair short
        target_v = self.target_v
        if target_v > v:  # max(v, target_v) without the call
            v = target_v
        self.v = v
        heap = self.heap
        while heap:
            entry = heap[0]
            seq: Seq = entry.item
            if seq.phase == DECODE and entry.rank == seq.order:  # not stale
                if not entry.key <= v + _EPS:  # not due (written as the test it replaces, NaN alike)
                    break
                pop(heap)
                self.n_decoding -= 1  # _leave(seq), a decoding sequence
                if self.decoding:
                    self.kv_decoding -= seq.kv_base - seq.v_join
                    left = math.ceil(seq.v_end - v - _EPS)
                    seq.remaining = left if left > 0 else 0
                else:
                    self.kv_fixed -= seq.reserved
                seq.phase = GONE
                del self.seqs[seq.attempt]
                self._finished(seq.attempt)
            else:
                pop(heap)
        while (
            self.decoding
            and len(self.seqs) > 1
            and self.kv_fixed + self.kv_decoding + self.n_decoding * self.v >= self.kv_capacity - _KV_EPS  # kv_used()
        ):
            if self.llm.preemption == "fail":
                self._fail_newest()
            else:
                self._preempt_newest()
        if self.queue or (self.central and self.cluster.central_queued):  # _after_change()
            self.pull()
        self._reschedule()
        self._report_kv(now)

    def _after_change(self) -> None:
        if self.queue or (self.central and self.cluster.central_queued):
            self.pull()
        self._reschedule()
        self._report_kv(self.kernel.now)

    # --- leaving the batch ----------------------------------------------------------------------
    def _leave(self, seq: Seq) -> None:
        """Take ``seq`` out of the batch and the cache (it stays in ``seqs`` for the caller)."""
        if seq.phase == DECODE:
            self.n_decoding -= 1
            if self.decoding:
                self.kv_decoding -= seq.kv_base - seq.v_join
                seq.remaining = max(math.ceil(seq.v_end - self.v - _EPS), 0)
            else:
                self.kv_fixed -= seq.reserved
        elif seq.phase == PREFILL:
            self.kv_fixed -= seq.reserved
        seq.phase = GONE
        del self.seqs[seq.attempt]

    def _finish_seq(self, seq: Seq) -> None:
        self._leave(seq)
        self._finished(seq.attempt)

    def _finished(self, attempt: Attempt) -> None:
        """The answer of ``attempt`` is complete (its sequence has left the batch)."""
        self._release(attempt)
        if self.prefix is not None and self.llm.prefix_cache is not None:
            self.prefix[attempt.session] = None
            self.prefix.move_to_end(attempt.session)
            if len(self.prefix) > self.llm.prefix_cache.sessions:
                self.prefix.popitem(last=False)
        self._answered(attempt, attempt.outcome)
        if self.observe is not None:
            self.observe(self, attempt, self.kernel.now)

    def _newest(self) -> Seq:
        """The sequence admitted last (the highest ``order``: orders are unique) of the batch."""
        newest: Seq | None = None
        for seq in self.seqs.values():
            if newest is None or seq.order > newest.order:
                newest = seq
        assert newest is not None  # called with two sequences or more
        return newest

    def _preempt_newest(self) -> None:
        newest = self._newest()
        attempt = newest.attempt
        self._leave(newest)
        newest.resumed = True
        self.suspended[attempt] = newest
        del self.running[attempt]
        self.busy -= 1
        self.queue.appendleft(attempt)
        self.queued += 1  # still in flight: it waits at the head of the queue
        self.preemptions += 1

    def _fail_newest(self) -> None:
        """The cache overflowed and the server has no preemption: the newest sequence errors (500)."""
        newest = self._newest()
        attempt = newest.attempt
        self._leave(newest)
        self._release(attempt)
        attempt.outcome = 500
        self.preemptions += 1
        self._answered(attempt, 500)

    def _error_done(self, attempt: Attempt) -> None:
        if attempt.server is not self or attempt.state in SERVER_OVER or attempt not in self.running:
            return
        self._advance(self.kernel.now)
        self._release(attempt)
        self._answered(attempt, attempt.outcome)
        self._after_change()

    # --- queue ------------------------------------------------------------------------------------
    def pull(self) -> None:
        """Admit waiting sequences while a slot is free and the head of the queue fits in the cache."""
        self._advance(self.kernel.now)
        while self.busy < self.slots and self.down_count == 0 and self.queue:
            attempt = self._head()
            if attempt is None:
                return
            if not self._fits(attempt):
                return  # head-of-line: the cache frees as sequences finish
            self.queue.remove(attempt) if self.by_priority else self.queue.popleft()
            if attempt not in self.suspended:
                self._unqueue(attempt)
            else:
                self.queued -= 1
            self.start(attempt)

    def _unqueue(self, attempt: Attempt) -> None:
        self.suspended.pop(attempt, None)  # evicted from the queue (a full waiting room): not resumed
        super()._unqueue(attempt)

    def _head(self) -> Attempt | None:
        """The next waiting attempt (dropping cancelled ones): FCFS, or the highest priority first."""
        queue = self.queue
        while queue and queue[0].state in SERVER_OVER:  # dropped while they waited
            queue.popleft()
        if not queue:
            return None
        if self.by_priority:  # the first live one of the highest priority: FCFS within a class
            best = queue[0]
            for waiting in queue:
                if waiting.priority > best.priority and waiting.state not in SERVER_OVER:
                    best = waiting
            return best
        return queue[0]

    def cancel(self, attempt: Attempt) -> None:
        """Drop an abandoned attempt: out of the queue, or out of the batch."""
        self._advance(self.kernel.now)
        seq = self.seqs.get(attempt)
        if seq is not None:
            self._leave(seq)
        super().cancel(attempt)  # a waiting one leaves through _unqueue, which forgets a preemption
        self._after_change()  # the batch changed, or the one behind it may fit now

    def crash(self) -> list[Attempt]:
        """Go down: the batch, the cache and the queue are lost."""
        self._advance(self.kernel.now)
        lost = super().crash()
        if lost or self.seqs or self.suspended:
            for seq in self.seqs.values():
                seq.phase = GONE
            self.seqs.clear()
            self.suspended.clear()
            self.heap.clear()
            self.n_decoding = 0
            self.kv_fixed = self.kv_decoding = 0.0
            if self.prefix is not None:
                self.prefix.clear()
            self._reschedule()
            self._report_kv(self.kernel.now)
        return lost

    def recover(self) -> None:
        """End one crash; admit waiting work when no crash holds it down."""
        self.down_count -= 1
        if self.down_count == 0:
            self.pull()
            self._reschedule()
