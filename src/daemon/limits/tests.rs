use super::*;

fn tracker() -> Arc<Tracker> {
    Tracker::new(Caps {
        per_user: 3,
        total: 8,
        admin_reserve: 2,
    })
}

#[test]
fn one_user_is_capped_and_gets_places_back_when_connections_close() {
    let t = tracker();
    let held: Vec<_> = (0..3)
        .map(|_| t.admit(1000, Class::User).unwrap())
        .collect();
    assert_eq!(
        t.admit(1000, Class::User).unwrap_err(),
        Refusal::PerUser { uid: 1000, cap: 3 }
    );
    // Another user is not affected, nor root.
    let _other = t.admit(1001, Class::User).unwrap();
    let _root: Vec<_> = (0..100).map(|_| t.admit(0, Class::Root).unwrap()).collect();
    assert_eq!(t.open(), 4);
    drop(held);
    assert_eq!(t.open(), 1);
    assert!(t.admit(1000, Class::User).is_ok());
}

#[test]
fn users_together_leave_the_reserve_to_admins_and_root() {
    let t = tracker();
    let mut held = Vec::new();
    for uid in 1000..1003 {
        for _ in 0..2 {
            held.push(t.admit(uid, Class::User).unwrap());
        }
    }
    // 6 of 8 taken: the last 2 are the admins' reserve.
    let e = t.admit(2000, Class::User).unwrap_err();
    assert!(matches!(e, Refusal::Total { cap: 6, .. }), "{e:?}");
    held.push(t.admit(3000, Class::Admin).unwrap());
    held.push(t.admit(3001, Class::Admin).unwrap());
    assert!(matches!(
        t.admit(3002, Class::Admin).unwrap_err(),
        Refusal::Total { cap: 8, .. }
    ));
    assert!(t.admit(0, Class::Root).is_ok());
}

#[tokio::test]
async fn heavy_requests_queue_boundedly_for_users_and_always_for_admins() {
    let heavy = Heavy::new(1, 1);
    let first = heavy.enter(Class::User).await.unwrap();
    // One user may wait; the next is refused at once.
    let waiter = heavy.enter(Class::User);
    let mut waiter = std::pin::pin!(waiter);
    assert!(futures_poll_once(waiter.as_mut()).await.is_none());
    let refused = heavy.enter(Class::User).await.unwrap_err();
    assert_eq!(refused.waiting, 1);
    assert!(refused.to_string().contains("try again"), "{refused}");
    // An admin waits even so, and gets a turn once the first finishes.
    let admin = heavy.enter(Class::Admin);
    let mut admin = std::pin::pin!(admin);
    assert!(futures_poll_once(admin.as_mut()).await.is_none());
    drop(first);
    let second = waiter.await.unwrap();
    drop(second);
    assert!(admin.await.is_ok());
    assert_eq!(heavy.waiting.load(Ordering::SeqCst), 0);
}

/// Polls a future once: `Some` if it finished.
async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
    tokio::time::timeout(std::time::Duration::from_millis(20), f)
        .await
        .ok()
}
