//! Races on one refresh token: many refreshes at once, and a refresh
//! against a logout.

use std::collections::BTreeSet;
use std::sync::Arc;

use tests::{Api, Stack, StoreKind, assert_clean_error, on_each_store};
use tokio::sync::Barrier;

const PARALLEL_REFRESHES: usize = 100;
const LOGOUT_RACES: usize = 25;
const PARALLEL_SIGNUPS: usize = 10;

on_each_store!(parallel_signups_create_one_account);

on_each_store!(
    parallel_refreshes_yield_one_successor,
    refresh_racing_logout_leaves_nothing
);

async fn parallel_refreshes_yield_one_successor(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (_, tokens) = api.new_native_user().await;
    let a = tokens.refresh();

    let barrier = Arc::new(Barrier::new(PARALLEL_REFRESHES));
    let mut tasks = Vec::new();
    for _ in 0..PARALLEL_REFRESHES {
        let (api, a, barrier) = (api.clone(), a.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            api.refresh_native(&a).await
        }));
    }
    let mut successors = BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        let reply = task.await.expect("refresh task");
        if reply.status == 200 {
            successors.insert(reply.tokens().refresh());
        } else {
            assert_clean_error(&reply);
            refused += 1;
        }
    }
    assert_eq!(
        successors.len(),
        1,
        "{} successors ({refused} refused)",
        successors.len()
    );

    let b = successors.pop_first().expect("one successor");
    let next = api.refresh_native(&b).await;
    assert_eq!(
        next.status,
        200,
        "the session is unusable after the race: {}",
        next.describe()
    );
    let c = next.tokens().refresh();
    let after = api.refresh_native(&c).await;
    assert_eq!(
        after.status,
        200,
        "the chain broke one step later: {}",
        after.describe()
    );
}

async fn refresh_racing_logout_leaves_nothing(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let mut refresh_won = 0;
    for trial in 0..LOGOUT_RACES {
        let a = api.login_native(&user).await.refresh();
        let barrier = Arc::new(Barrier::new(2));
        let refresh = spawn_after(&barrier, api.clone(), a.clone(), false);
        let logout = spawn_after(&barrier, api.clone(), a.clone(), true);
        let refreshed = refresh.await.expect("refresh task");
        let logged_out = logout.await.expect("logout task");
        assert_eq!(
            logged_out.status,
            204,
            "trial {trial}: logout: {}",
            logged_out.describe()
        );

        let mut leftovers = vec![a];
        if refreshed.status == 200 {
            refresh_won += 1;
            leftovers.push(refreshed.tokens().refresh());
        } else {
            assert_eq!(
                refreshed.status,
                400,
                "trial {trial}: {}",
                refreshed.describe()
            );
        }
        for token in leftovers {
            let reply = api.refresh_native(&token).await;
            assert_eq!(
                reply.status,
                400,
                "trial {trial}: a token outlived logout: {}",
                reply.describe()
            );
            assert_eq!(assert_clean_error(&reply), "invalid_grant");
        }
    }
    eprintln!("the refresh finished first in {refresh_won} of {LOGOUT_RACES} races");
}

async fn parallel_signups_create_one_account(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let name = tests::unique_username("race");
    let barrier = Arc::new(Barrier::new(PARALLEL_SIGNUPS));
    let mut tasks = Vec::new();
    for _ in 0..PARALLEL_SIGNUPS {
        let (api, name, barrier) = (api.clone(), name.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            let password = tests::strong_password();
            barrier.wait().await;
            api.signup(tests::client::CLI, &name, &password).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let reply = task.await.expect("sign-up task");
        match reply.status {
            201 => created += 1,
            409 => {
                assert_clean_error(&reply);
            }
            _ => panic!("unexpected sign-up answer: {}", reply.describe()),
        }
    }
    assert_eq!(created, 1, "{created} accounts for one username");
}

/// Spawns a refresh (or, with `logout`, a logout) of `token` that starts
/// when every party has reached `barrier`.
fn spawn_after(
    barrier: &Arc<Barrier>,
    api: Api,
    token: String,
    logout: bool,
) -> tokio::task::JoinHandle<tests::Reply> {
    let barrier = Arc::clone(barrier);
    tokio::spawn(async move {
        barrier.wait().await;
        if logout {
            api.logout_native(&token).await
        } else {
            api.refresh_native(&token).await
        }
    })
}
