//! The reconciler the engine uses for `reconcile` steps and parity gates:
//! the real one, reporting its progress as engine events.

/// The reconciler the engine uses for `reconcile` steps and parity gates:
/// the real one, reporting progress as engine events.
pub fn reconciler() -> Box<dyn crate::engine::Reconciler> {
    Box::new(PlanReconciler)
}

struct PlanReconciler;

/// Reconciliation progress as engine events (for the bar and the stream).
struct EventProgress<'a> {
    name: &'a str,
    events: &'a dyn crate::engine::Reporter,
    done: std::sync::atomic::AtomicU64,
    total: std::sync::Mutex<Option<u64>>,
}

impl crate::reconcile::Progress for EventProgress<'_> {
    fn started(&self, estimate: Option<u64>) {
        if let Ok(mut t) = self.total.lock() {
            *t = estimate;
        }
    }

    fn advanced(&self, rows: u64) {
        let done = self
            .done
            .fetch_add(rows, std::sync::atomic::Ordering::Relaxed)
            + rows;
        let total = self.total.lock().ok().and_then(|t| *t);
        self.events.event(&crate::engine::Event::ReconcileProgress {
            name: self.name.to_string(),
            done,
            total: total.map(|t| t.max(done)),
        });
    }
}

#[async_trait::async_trait]
impl crate::engine::Reconciler for PlanReconciler {
    async fn reconcile(
        &self,
        plan: &crate::plan::Plan,
        name: &str,
        repair: bool,
        events: &dyn crate::engine::Reporter,
    ) -> anyhow::Result<crate::engine::ReconcileResult> {
        use crate::engine::Event;
        events.event(&Event::ReconcileStarted {
            name: name.to_string(),
        });
        let progress = EventProgress {
            name,
            events,
            done: std::sync::atomic::AtomicU64::new(0),
            total: std::sync::Mutex::new(None),
        };
        let opts = crate::reconcile::Options {
            repair,
            ..crate::reconcile::Options::default()
        };
        let summary = crate::reconcile::run(plan, name, &opts, &progress).await?;
        let value = serde_json::to_value(&summary)?;
        let parity = summary.final_parity();
        events.event(&Event::ReconcileFinished {
            name: name.to_string(),
            parity,
            summary: value.clone(),
        });
        let repair = summary.repair.as_ref();
        Ok(crate::engine::ReconcileResult {
            unrepaired: repair.map_or(0, |r| r.failed),
            first_unrepaired: repair.and_then(|r| r.unrepaired.first().cloned()),
            ..crate::engine::ReconcileResult::complete(parity, value)
        })
    }
}
