//! Sync groups (keepalived's `vrrp_sync_group`), pure: virtual routers that change
//! state together, so that the addresses of several links (a service's front and
//! back, say) always sit on the same host. Given what each member is and what one
//! of them just did, [`follow`] says what the others must do:
//!
//! - a member whose down timer ran out *wants* to be master; the group goes master
//!   only once every member is master or wants to be (so a member still hearing a
//!   better master holds the others back, and no member flaps);
//! - a member that leaves MASTER for BACKUP (it lost an election, or handed over)
//!   takes every other master member with it (they say priority 0, so the peer's
//!   members take over at once);
//! - a member in FAULT (its link, or tracking with weight 0) puts the whole group in
//!   FAULT until it recovers.

use super::machine::State;

/// What the group knows of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub state: State,
    pub wants_master: bool,
    /// In FAULT for a reason of its own (not because of the group).
    pub own_fault: bool,
}

/// What a member just did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    WantMaster,
    LeftMaster,
    /// Its own fault began or ended.
    Fault,
    /// Any other new state (the group may now agree on one, for its `notify`).
    Entered,
}

/// What a member must do for the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Master,
    Backup,
    /// Whether some member of the group is in FAULT of its own.
    GroupFault(bool),
}

/// The orders for the members (by index) after member `who` did `change`; `members`
/// already reflects the change.
pub fn follow(members: &[Member], who: usize, change: Change) -> Vec<(usize, Order)> {
    match change {
        Change::WantMaster => {
            let ready = members
                .iter()
                .all(|m| m.state == State::Master || (m.state == State::Backup && m.wants_master));
            if !ready {
                return Vec::new();
            }
            let backups = members.iter().enumerate();
            backups
                .filter(|(_, m)| m.state == State::Backup)
                .map(|(i, _)| (i, Order::Master))
                .collect()
        }
        Change::LeftMaster => members
            .iter()
            .enumerate()
            .filter(|&(i, m)| i != who && m.state == State::Master)
            .map(|(i, _)| (i, Order::Backup))
            .collect(),
        Change::Entered => Vec::new(),
        Change::Fault => {
            let faulty = members.iter().any(|m| m.own_fault);
            (0..members.len())
                .filter(|&i| i != who)
                .map(|i| (i, Order::GroupFault(faulty)))
                .collect()
        }
    }
}

/// The group's state: the one every member is in, if they agree.
pub fn group_state(members: &[Member]) -> Option<State> {
    let first = members.first()?.state;
    members.iter().all(|m| m.state == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(state: State, wants_master: bool) -> Member {
        Member {
            state,
            wants_master,
            own_fault: false,
        }
    }

    #[test]
    fn the_group_goes_master_only_when_every_member_wants_it() {
        let waiting = [m(State::Backup, true), m(State::Backup, false)];
        assert!(follow(&waiting, 0, Change::WantMaster).is_empty());
        let ready = [m(State::Backup, true), m(State::Backup, true)];
        assert_eq!(
            follow(&ready, 1, Change::WantMaster),
            vec![(0, Order::Master), (1, Order::Master)]
        );
        // A member already master (joined later) does not hold the others back.
        let joined = [m(State::Master, false), m(State::Backup, true)];
        assert_eq!(
            follow(&joined, 1, Change::WantMaster),
            vec![(1, Order::Master)]
        );
        let faulty = [m(State::Fault, false), m(State::Backup, true)];
        assert!(follow(&faulty, 1, Change::WantMaster).is_empty());
    }

    #[test]
    fn one_member_leaving_master_takes_the_others_along() {
        let g = [
            m(State::Backup, false),
            m(State::Master, false),
            m(State::Master, false),
        ];
        assert_eq!(
            follow(&g, 0, Change::LeftMaster),
            vec![(1, Order::Backup), (2, Order::Backup)]
        );
        assert!(follow(&[m(State::Backup, false)], 0, Change::LeftMaster).is_empty());
        assert!(follow(&g, 1, Change::Entered).is_empty());
    }

    #[test]
    fn a_fault_is_the_group_s_until_it_ends() {
        let mut g = [m(State::Fault, false), m(State::Master, false)];
        g[0].own_fault = true;
        assert_eq!(
            follow(&g, 0, Change::Fault),
            vec![(1, Order::GroupFault(true))]
        );
        g[0].own_fault = false;
        assert_eq!(
            follow(&g, 0, Change::Fault),
            vec![(1, Order::GroupFault(false))]
        );
        assert_eq!(group_state(&g), None);
        g[1].state = State::Fault;
        assert_eq!(group_state(&g), Some(State::Fault));
        assert_eq!(group_state(&[]), None);
    }
}
