"""The step-level LLM server (``service.step_s`` set): vLLM's scheduler, one event per engine step.

Each step serves every decoding sequence one token and spends the rest of the token budget
(``max_num_batched_tokens``) on prompt chunks, first come first served (chunked prefill, as vLLM's
scheduler does: running requests first, then new ones while the budget lasts). A step takes

    step_s + step_per_seq_s x decoding sequences + step_per_kv_token_s x their cached tokens
    + step_per_prefill_token_s x prompt tokens in the step
    + step_per_prefill_token2_s x sum over chunks of chunk x (tokens before it + chunk / 2)

(the last term is prefill attention: a prompt of L tokens costs it L^2 / 2 in total, however it
is chunked), times the server's slowdown. A sequence's first token comes at the end of the step
that finishes its prompt; each later step gives it one more. A request enters the scheduler
``prefill_overhead`` after it is admitted (API server, tokenisation). The cache holds prompt +
answer from admission (``preemption: none``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from sim.engine.attempt import Attempt
from sim.engine.heap import Entry, pop, push
from sim.engine.llm_server import DECODE, GONE, PREFILL, LlmServer, Seq, stale

if TYPE_CHECKING:
    from sim.engine.kernel import Kernel
    from sim.engine.server import ServerOwner
    from sim.rng import Draws
    from sim.workload.service import ServiceTimes

__all__ = ["StepLlmServer", "step_time_s"]


def step_time_s(
    costs: tuple[float, float, float, float, float], decoding: int, kv_tokens: float, chunks: float, attention: float
) -> float:
    """One step's time: costs = (fixed, per sequence, per cached token, per prompt token, per prompt token^2)."""
    fixed, per_seq, per_kv, per_prompt, per_prompt2 = costs
    return fixed + per_seq * decoding + per_kv * kv_tokens + per_prompt * chunks + per_prompt2 * attention


class StepLlmServer(LlmServer):
    """An ``LlmServer`` whose time advances in engine steps shared by prefill chunks and decodes."""

    __slots__ = ("budget", "costs", "kv_tokens", "prefilled", "ready", "step_chunks", "stepping", "steps")

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
        llm = self.llm
        self.costs = (
            float(llm.step_s or 0.0),
            llm.step_per_seq_s,
            llm.step_per_kv_token_s,
            llm.step_per_prefill_token_s,
            llm.step_per_prefill_token2_s,
        )
        self.budget = llm.max_num_batched_tokens
        self.ready: deque[Seq] = deque()  # in the scheduler, prompt not yet done, FCFS
        self.prefilled: dict[Seq, int] = {}  # prompt tokens done so far, per sequence in ``ready``
        self.kv_tokens = 0.0  # cached tokens of the decoding sequences
        self.steps = 0  # steps completed: the decode clock (a decoding sequence gains a token per step)
        self.stepping = False  # a step is under way (or about to be planned)
        self.step_chunks: list[tuple[Seq, int]] = []

    def start(self, attempt: Attempt) -> None:
        """Admit ``attempt``: it reserves prompt + answer in the cache and enters the scheduler."""
        now = self.kernel.now
        self.busy += 1
        self.running[attempt] = None
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
        self.seqs[attempt] = seq
        seq.reserved = self._need(attempt, seq)
        self.kv_fixed += seq.reserved
        self._report_kv(now)
        overhead_s = self.llm.prefill_overhead * self.slow_factor
        if overhead_s > 0:
            self.kernel.call_at(now + overhead_s, self._schedulable, seq)
        else:
            self._enter(seq)

    def _schedulable(self, seq: Seq) -> None:
        if seq.phase == PREFILL and self.seqs.get(seq.attempt) is seq:
            self._enter(seq)
            self._reschedule()

    def _enter(self, seq: Seq) -> None:
        self.ready.append(seq)
        self.prefilled[seq] = 0

    def _advance(self, now_s: float) -> None:
        """Nothing to bring up to date: state changes only at step boundaries."""

    def _reschedule(self) -> None:
        """Plan a step when the server is idle and has work (after every same-instant arrival)."""
        if not self.stepping and (self.ready or self.n_decoding) and self.down_count == 0:
            self.stepping = True
            self.epoch += 1
            self.kernel.call_at(self.kernel.now, self._plan, self.epoch)

    def _plan(self, epoch: int) -> None:
        if epoch != self.epoch:
            return
        budget = self.budget - self.n_decoding
        chunks: list[tuple[Seq, int]] = []
        chunk_tokens, attention = 0, 0.0
        for seq in self.ready:
            if budget <= 0:
                break
            done = self.prefilled[seq]
            chunk = min(seq.attempt.prompt_tokens - done, budget)
            chunks.append((seq, chunk))
            budget -= chunk
            chunk_tokens += chunk
            attention += chunk * (done + chunk / 2.0)
        if not chunks and not self.n_decoding:
            self.stepping = False
            return
        self.step_chunks = chunks
        step_s = step_time_s(self.costs, self.n_decoding, self.kv_tokens, chunk_tokens, attention)
        self.kernel.call_at(self.kernel.now + step_s * self.slow_factor, self._step_done, self.epoch)

    def _step_done(self, epoch: int) -> None:
        if epoch != self.epoch:
            return  # the server crashed during the step
        now = self.kernel.now
        self.steps += 1
        self.kv_tokens += self.n_decoding  # every decoding sequence cached one more token
        heap = self.heap
        while heap and (stale(heap[0]) or heap[0].key <= self.steps):
            entry = pop(heap)
            if not stale(entry):
                self._finish_seq(entry.item)
        for seq, chunk in self.step_chunks:
            if seq.phase != PREFILL or seq not in self.prefilled:
                continue  # cancelled or lost during the step
            self.prefilled[seq] += chunk
            if self.prefilled[seq] >= seq.attempt.prompt_tokens:
                self._prompt_done(seq, now)
        self.step_chunks = []
        self.stepping = False
        self._after_change()

    def _prompt_done(self, seq: Seq, now_s: float) -> None:
        """The step finished ``seq``'s prompt: its first token is out; it decodes from the next step."""
        self.ready.remove(seq)
        del self.prefilled[seq]
        seq.attempt.first_token_s = now_s
        if seq.remaining <= 0:
            self._finish_seq(seq)
            return
        seq.kv_base = seq.attempt.prompt_tokens + 1
        self.kv_tokens += seq.kv_base
        seq.phase = DECODE
        seq.v_join, seq.v_end = float(self.steps), float(self.steps + seq.remaining)
        self.n_decoding += 1
        push(self.heap, Entry(seq.v_end, seq.order, seq, None))

    def _leave(self, seq: Seq) -> None:
        """Take ``seq`` out of the batch and the cache (it stays in ``seqs`` for the caller)."""
        if seq.phase == DECODE:
            self.n_decoding -= 1
            self.kv_tokens -= seq.kv_base + (self.steps - seq.v_join)
        elif seq in self.prefilled:
            self.ready.remove(seq)
            del self.prefilled[seq]
        self.kv_fixed -= seq.reserved
        seq.phase = GONE
        del self.seqs[seq.attempt]

    def crash(self) -> list[Attempt]:
        """Go down: the batch, the cache, the queue and the step under way are lost."""
        lost = super().crash()
        self.ready.clear()
        self.prefilled.clear()
        self.kv_tokens = 0.0
        self.step_chunks = []
        self.stepping = False
        self.epoch += 1
        return lost
