//! The workflow contracts: what the CLI starts, signals and queries, without the workflow
//! code. The worker's `#[workflow]` types implement these names; its tests check each pair
//! matches (name, input, output), so the CLI never needs to link the worker.

use ct_domain::integration::IntegrateInput;
use ct_domain::{ApprovalDecision, DevelopInput, IterateInput, ParallelInput, WorkflowStatus};
use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, SignalDefinition, UpdateDefinition, WorkflowDefinition,
};

/// The multi-stage workflow (`start`).
#[derive(Debug, Clone, Copy)]
pub struct Develop;

/// The run-until-tests-pass workflow (`iterate`).
#[derive(Debug, Clone, Copy)]
pub struct Iterate;

/// The one-branch-per-feature workflow (`parallel`).
#[derive(Debug, Clone, Copy)]
pub struct Parallel;

/// Merges existing branches into one integration branch (`integrate`).
#[derive(Debug, Clone, Copy)]
pub struct Integrate;

/// The type names the worker registers; recorded histories carry them.
pub mod names {
    pub const DEVELOP: &str = "DevelopWorkflow";
    pub const ITERATE: &str = "IterateWorkflow";
    pub const PARALLEL: &str = "ParallelWorkflow";
    pub const INTEGRATE: &str = "IntegrateWorkflow";
    pub const APPROVE: &str = "approve";
    pub const REJECT: &str = "reject";
    pub const APPROVE_GATE: &str = "approve_gate";
    pub const KEEP_CHANGES: &str = "keep_changes";
    pub const REJECT_GATE: &str = "reject_gate";
    pub const RAISE_BUDGET: &str = "raise_budget";
    pub const STATUS: &str = "status";
}

macro_rules! workflow {
    ($marker:ident, $name:expr, $input:ty) => {
        impl WorkflowDefinition for $marker {
            type Input = $input;
            type Output = WorkflowStatus;
            fn name(&self) -> &str {
                $name
            }
        }
        impl HasWorkflowDefinition for $marker {
            type Run = Self;
        }
    };
}

workflow!(Develop, names::DEVELOP, DevelopInput);
workflow!(Iterate, names::ITERATE, IterateInput);
workflow!(Parallel, names::PARALLEL, ParallelInput);
workflow!(Integrate, names::INTEGRATE, IntegrateInput);

/// Approves the stage waiting at its gate.
#[derive(Debug, Clone, Copy)]
pub struct Approve;

/// Rejects the stage waiting at its gate; the workflow rolls it back and fails.
#[derive(Debug, Clone, Copy)]
pub struct Reject;

/// Tells a develop or iterate workflow that a coming cancel keeps the cancelled stage's edits.
#[derive(Debug, Clone, Copy)]
pub struct KeepChanges;

/// Approves the stage waiting at its gate, as an Update: refused (with the reason) unless that
/// gate is open and undecided; answers with the stage it decided.
#[derive(Debug, Clone, Copy)]
pub struct ApproveGate;

/// Rejects the stage waiting at its gate, as an Update (see [`ApproveGate`]).
#[derive(Debug, Clone, Copy)]
pub struct RejectGate;

/// Raises the budget a stopped run waits on (else the workflow's), as an Update: refused (with
/// the reason) when there is none to raise; answers with the new limit.
#[derive(Debug, Clone, Copy)]
pub struct RaiseBudget;

/// Every workflow answers it with its [`WorkflowStatus`], whichever kind it is.
#[derive(Debug, Clone, Copy)]
pub struct Status;

impl SignalDefinition for Approve {
    type Workflow = Develop;
    type Input = ApprovalDecision;
    fn name(&self) -> &str {
        names::APPROVE
    }
}

impl SignalDefinition for Reject {
    type Workflow = Develop;
    type Input = ApprovalDecision;
    fn name(&self) -> &str {
        names::REJECT
    }
}

impl SignalDefinition for KeepChanges {
    type Workflow = Develop;
    type Input = bool;
    fn name(&self) -> &str {
        names::KEEP_CHANGES
    }
}

impl UpdateDefinition for ApproveGate {
    type Workflow = Develop;
    type Input = ApprovalDecision;
    type Output = String;
    fn name(&self) -> &str {
        names::APPROVE_GATE
    }
}

impl UpdateDefinition for RejectGate {
    type Workflow = Develop;
    type Input = ApprovalDecision;
    type Output = String;
    fn name(&self) -> &str {
        names::REJECT_GATE
    }
}

impl UpdateDefinition for RaiseBudget {
    type Workflow = Develop;
    type Input = ct_domain::budget::BudgetRaise;
    type Output = ct_domain::budget::BudgetRaised;
    fn name(&self) -> &str {
        names::RAISE_BUDGET
    }
}

impl QueryDefinition for Status {
    type Workflow = Develop;
    type Input = ();
    type Output = WorkflowStatus;
    fn name(&self) -> &str {
        names::STATUS
    }
}

/// Ties a workflow implementation to its contract, as [`crate::implements`] does for
/// activities: same input and output or no build, same name or an error at start.
pub fn implements<D, I>(definition: &D, implementation: &I) -> Result<(), String>
where
    D: WorkflowDefinition,
    I: WorkflowDefinition<Input = D::Input, Output = D::Output>,
{
    if definition.name() == implementation.name() {
        Ok(())
    } else {
        Err(format!(
            "workflow `{}` is registered as `{}`: register it under its contract's name",
            definition.name(),
            implementation.name()
        ))
    }
}
