//! What happens in Moodle and the SMS between two nights.

use crate::world::{ASSIGN, QUIZ, Site, World, add_learner};
use chrono::{DateTime, TimeDelta, Utc};
use domain::ConnectionId;
use std::collections::HashMap;

/// New enrolments per site on the second night, and regraded learners on the third.
pub const CHANGES: usize = 5;

/// The day after the first night: every learner graded on the quiz, and
/// [`CHANGES`] new enrolments per site. How many were graded, per connection.
pub async fn marking_day(
    world: &World,
    sites: &mut [Site],
    night_one: DateTime<Utc>,
) -> HashMap<ConnectionId, usize> {
    let day = night_one + TimeDelta::hours(12);
    let users = moodle_users(world);
    for (index, site) in sites.iter_mut().enumerate() {
        for user in &users[&site.connection] {
            let grade = if user % 3 == 0 { 4.0 } else { 8.0 };
            site.sim
                .set_grade(*user, QUIZ, Some(grade), day.timestamp());
        }
        for i in site.learners..site.learners + CHANGES {
            add_learner(world, site, index, i, day).await;
        }
    }
    let graded: HashMap<ConnectionId, usize> = sites
        .iter()
        .map(|s| (s.connection.clone(), s.learners))
        .collect();
    for site in sites.iter_mut() {
        site.learners += CHANGES;
    }
    graded
}

/// A quiet day before night `n`: [`CHANGES`] other learners per site graded
/// on the assignment, nothing new.
pub fn quiet_day(world: &World, sites: &[Site], n: i64, night_one: DateTime<Utc>) {
    let users = moodle_users(world);
    let day = night_one + TimeDelta::days(n - 2) + TimeDelta::hours(12);
    for site in sites {
        let skip = CHANGES * usize::try_from(n - 3).unwrap();
        for user in users[&site.connection].iter().skip(skip).take(CHANGES) {
            site.sim
                .set_grade(*user, ASSIGN, Some(75.0), day.timestamp());
        }
    }
}

/// Each connection's Moodle users of the SMS's learners, in learner order.
fn moodle_users(world: &World) -> HashMap<ConnectionId, Vec<i64>> {
    let mut users: HashMap<ConnectionId, Vec<i64>> = HashMap::new();
    for account in world.links.accounts.lock().unwrap().values() {
        users
            .entry(account.connection.clone())
            .or_default()
            .push(account.external_id);
    }
    users
}
