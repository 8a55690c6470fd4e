// The audit side of airlock, one per airlock whatever the number of workers: the flow store (one
// writer), the budgets' view of it, and record(): where every flow ends up.
import type { Config } from '../policies/types.ts';
import type { StoredBody } from './capture.ts';
import { createBudgets, type Budgets } from './budgets/budgets.ts';
import type { ConfigRef } from './config-ref.ts';
import type { Flow } from './flow.ts';
import { logEvent, logFlow } from './log.ts';
import { type Metrics, noMetrics } from './metrics.ts';
import { describeStore, openFlowStore } from './store/open-store.ts';
import type { FlowStore } from './store/writer.ts';

export interface Recording {
  store: FlowStore;
  budgets: Budgets;
  /**
   * `logged`: the log.flows of the policy the flow was handled under (default: the one in force);
   * `stored`: its bodies, already made ready for the store by the worker that served it.
   */
  record(flow: Flow, logged?: boolean, stored?: StoredBody[]): void;
  /** Counts every flow recorded from now on (set once the admin listener exists). */
  setMetrics(m: Metrics): void;
}

/** `onStoreEvent`: before each store event is logged (a state change the workers must know of). */
export function openRecording(initial: Config, ref: ConfigRef, onStoreEvent?: () => void): Recording {
  const where = describeStore(initial.store);
  const store = openFlowStore(initial.store, {
    onEvent: (e) => {
      onStoreEvent?.();
      logEvent(e.level, e.msg, { ...e.fields, store: where, instance: initial.store.instance });
    },
    // Tokens count towards budgets once read from the stored response.
    onLlm: (flow, info) => budgets.used(ref.current, flow.ruleId, flow.agentUser, flow.listener, info, Date.now()),
  });
  const budgets = createBudgets(store.counters);
  let metrics = noMetrics;
  return {
    store,
    budgets,
    record(flow, logged = ref.current.log.flows, stored) {
      // A request refused because the store cannot write is counted and logged, not queued for the
      // store: the backlog is kept for flows that reached an upstream (docs/audit.md).
      if (flow.code === 'audit_store_unavailable') {
        // counted and logged only
      } else if (stored) store.recordStored(flow, stored);
      else store.record(flow);
      metrics.flow(flow);
      if (logged) logFlow(flow);
    },
    setMetrics(m) {
      metrics = m;
    },
  };
}
