//! The instance pool's room, counted. The pooling allocator holds a fixed number of component
//! instances, core instances, memories and tables; a step takes one component instance and as
//! many of the others as its component instantiates (a Rust step a handful of core instances,
//! the Python runner a few dozen). Each step waits for the room it needs before it
//! instantiates, so a burst of code steps queues instead of failing with "pool exhausted", and
//! `max_concurrent` means what it says for the steps that run.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::Component;

/// How many core instances, memories and tables the pool keeps per step slot.
pub(crate) const CORE_INSTANCES_PER_SLOT: u32 = 8;
pub(crate) const MEMORIES_PER_SLOT: u32 = 2;
pub(crate) const TABLES_PER_SLOT: u32 = 4;

/// The most of each one component may instantiate.
pub(crate) const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
pub(crate) const MAX_MEMORIES_PER_COMPONENT: u32 = 8;
pub(crate) const MAX_TABLES_PER_COMPONENT: u32 = 16;

/// What one instance of a component takes from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolNeeds {
    /// Core module instances it creates.
    pub core_instances: u32,
    /// Linear memories those define.
    pub memories: u32,
    /// Tables those define.
    pub tables: u32,
}

impl PoolNeeds {
    /// Count what instantiating `component` (built from `bytes`) allocates: core instances
    /// from its (nested) `instantiate`s, memories and tables from wasmtime's own count.
    pub(crate) fn of(component: &Component, bytes: &[u8]) -> PoolNeeds {
        let mut core_instances = 0;
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            if let Ok(wasmparser::Payload::InstanceSection(reader)) = payload {
                core_instances += reader
                    .into_iter()
                    .flatten()
                    .filter(|i| matches!(i, wasmparser::Instance::Instantiate { .. }))
                    .count() as u32;
            }
        }
        // `None`: it instantiates modules it imports, which a step cannot; count the most.
        let (memories, tables) = component.resources_required().map_or(
            (MAX_MEMORIES_PER_COMPONENT, MAX_TABLES_PER_COMPONENT),
            |r| (r.num_memories, r.num_tables),
        );
        PoolNeeds {
            core_instances,
            memories,
            tables,
        }
    }
}

/// The pool's free room, taken by each step for as long as its instance lives.
pub(crate) struct PoolRoom {
    slots: Arc<Semaphore>,
    core_instances: Arc<Semaphore>,
    memories: Arc<Semaphore>,
    tables: Arc<Semaphore>,
    /// Totals, for the message when one component alone needs more than the pool holds.
    totals: PoolNeeds,
}

/// Room taken from the pool; given back when dropped.
pub(crate) struct Taken(#[allow(dead_code)] [OwnedSemaphorePermit; 4]);

impl PoolRoom {
    pub(crate) fn new(slots: u32) -> PoolRoom {
        let totals = PoolNeeds {
            core_instances: slots.saturating_mul(CORE_INSTANCES_PER_SLOT),
            memories: slots.saturating_mul(MEMORIES_PER_SLOT),
            tables: slots.saturating_mul(TABLES_PER_SLOT),
        };
        let sem = |n: u32| Arc::new(Semaphore::new(n as usize));
        PoolRoom {
            slots: sem(slots),
            core_instances: sem(totals.core_instances),
            memories: sem(totals.memories),
            tables: sem(totals.tables),
            totals,
        }
    }

    /// Why a component can never run in this pool, if it cannot.
    pub(crate) fn never_fits(&self, needs: PoolNeeds) -> Option<String> {
        let over = |what: &str, need: u32, most: u32| {
            (need > most).then(|| format!("it instantiates {need} {what}: at most {most} fit"))
        };
        over(
            "core instances",
            needs.core_instances,
            self.totals
                .core_instances
                .min(MAX_CORE_INSTANCES_PER_COMPONENT),
        )
        .or_else(|| {
            over(
                "memories",
                needs.memories,
                self.totals.memories.min(MAX_MEMORIES_PER_COMPONENT),
            )
        })
        .or_else(|| {
            over(
                "tables",
                needs.tables,
                self.totals.tables.min(MAX_TABLES_PER_COMPONENT),
            )
        })
    }

    /// Wait until the pool has room for one instance with these needs, and take it. Always in
    /// the same order, so that two waiting steps never hold what the other waits for in a cycle.
    pub(crate) async fn take(&self, needs: PoolNeeds) -> Taken {
        let take = |sem: &Arc<Semaphore>, n: u32| sem.clone().acquire_many_owned(n);
        // The semaphores are never closed, so acquiring cannot fail.
        let slot = take(&self.slots, 1)
            .await
            .expect("pool room is never closed");
        let core = take(&self.core_instances, needs.core_instances)
            .await
            .expect("pool room is never closed");
        let memories = take(&self.memories, needs.memories)
            .await
            .expect("pool room is never closed");
        let tables = take(&self.tables, needs.tables)
            .await
            .expect("pool room is never closed");
        Taken([slot, core, memories, tables])
    }

    /// Free core instances now (for tests and figures).
    pub(crate) fn free_core_instances(&self) -> usize {
        self.core_instances.available_permits()
    }
}
