//! The narrow states handlers take: each an axum [`FromRef`] of [`AppState`], so a
//! handler names what it uses and nothing else (a control-plane handler needs the store
//! and the catalog, not the dispatcher). The router is still built over the one
//! [`AppState`]; these are views of it, cloned per request like the state itself.

use std::sync::Arc;

use axum::extract::FromRef;
use spillway_catalog::Catalog;
use spillway_dispatch::imported::Registry as Imported;
use spillway_dispatch::provisioned::Registry as Provisioned;
use spillway_dispatch::resolve::application::AppProfiles;
use spillway_dispatch::resolve::Resolver;
use spillway_dispatch::Dispatcher;
use spillway_store::Store;

use crate::app::AppState;
use crate::batch::Batch;
use crate::imported::job::Importer;
use crate::logging::InvocationLogs;
use crate::serve::Lifecycle;
use crate::usage::UsageLedger;

/// What the bedrock-runtime calls use: resolution, the dispatcher, and what every call
/// ends in (usage, metrics, the invocation log; the lifecycle an abandoned call's record
/// runs under).
#[derive(Debug, Clone)]
pub struct Runtime {
    pub catalog: Arc<Catalog>,
    pub dispatcher: Arc<Dispatcher>,
    pub resolver: Arc<Resolver>,
    pub logs: Arc<InvocationLogs>,
    pub usage: Arc<UsageLedger>,
    pub lifecycle: Lifecycle,
}

impl FromRef<AppState> for Runtime {
    fn from_ref(state: &AppState) -> Self {
        Self {
            catalog: Arc::clone(&state.catalog),
            dispatcher: Arc::clone(&state.dispatcher),
            resolver: Arc::clone(&state.resolver),
            logs: Arc::clone(&state.logs),
            usage: Arc::clone(&state.usage),
            lifecycle: state.lifecycle.clone(),
        }
    }
}

/// What every control-plane handler uses: the catalog and the store. A handler that
/// also changes something of this instance's runtime takes that part on its own (the
/// registries, the application-profile cache, the import and batch runners, …).
#[derive(Debug, Clone)]
pub struct Control {
    pub catalog: Arc<Catalog>,
    pub store: Arc<Store>,
}

impl FromRef<AppState> for Control {
    fn from_ref(state: &AppState) -> Self {
        Self { catalog: Arc::clone(&state.catalog), store: Arc::clone(&state.store) }
    }
}

/// `State<Arc<T>>` of one part of the state.
macro_rules! part {
    ($($ty:ty => |$s:ident| $get:expr;)*) => {$(
        impl FromRef<AppState> for Arc<$ty> {
            fn from_ref($s: &AppState) -> Self {
                Arc::clone($get)
            }
        }
    )*};
}

part! {
    Dispatcher => |s| &s.dispatcher;
    Resolver => |s| &s.resolver;
    AppProfiles => |s| s.resolver.apps();
    Provisioned => |s| s.dispatcher.provisioned();
    Imported => |s| s.dispatcher.imported();
    Importer => |s| &s.importer;
    Batch => |s| &s.batch;
    InvocationLogs => |s| &s.logs;
    UsageLedger => |s| &s.usage;
}
