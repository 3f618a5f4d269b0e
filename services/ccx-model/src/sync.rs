//! The one lock-poisoning policy of ccx.
//!
//! A lock is poisoned when a thread panicked while holding it. Every lock in ccx guards data
//! that each holder changes in single assignments or inserts (an address book, a token set, a
//! status, a row buffer, a state machine applying one command), so what a poisoned lock holds is
//! still usable; the panic itself was already logged and, for a task that matters (the raft
//! loop, a worker), ends that task. Taking the data as is keeps one failed request from failing
//! every later one. These helpers are the only place locks are taken.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, taking its data as is if a holder panicked.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read-locks `lock`, taking its data as is if a writer panicked.
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

/// Write-locks `lock`, taking its data as is if a holder panicked.
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_keeps_its_data() {
        let m = Arc::new(Mutex::new(1));
        let r = Arc::new(RwLock::new(2));
        let (m2, r2) = (m.clone(), r.clone());
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            let _w = r2.write().unwrap();
            panic!("holder fails");
        })
        .join();
        assert!(m.is_poisoned() && r.is_poisoned());
        *lock(&m) += 1;
        *write(&r) += 1;
        assert_eq!((*lock(&m), *read(&r)), (2, 3));
    }
}
