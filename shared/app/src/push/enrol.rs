//! A batch's last step: the learners going to Moodle enrolled, one call per
//! batch, with the role and the enrolment's start; their transfers saved and
//! their emails sent.

use super::chunk::{Chunk, ChunkDone, Going, time_start};
use super::error::PushError;
use super::load::transfer_record;
use super::service::{Push, count, line};
use domain::LogLevel;
use domain::connection::{MoodleSettings, NewUserAuth};
use domain::learning::{CourseEnrolment, RecordFailure};
use domain::messages::{self, CourseInvite};
use domain::ports::Email;
use domain::run::counts;
use domain::sis::{Learner, TransferStatus};

impl Push<'_> {
    /// Enrols `going`, one call per batch, with the role and the enrolment's
    /// start; saves their transfers, records the lines and count, and sends
    /// their emails.
    pub(super) async fn enrol<'a>(
        &self,
        cx: &Chunk<'a>,
        going: &[Going<'a>],
        done: &mut ChunkDone,
    ) -> Result<(), PushError> {
        let (tenant, connection, run, now) = (cx.tenant, cx.connection, cx.run, cx.now);
        let (settings, loaded, lms) = (cx.settings, cx.loaded, cx.lms);
        let wanted: Vec<CourseEnrolment> = going
            .iter()
            .map(|g| CourseEnrolment {
                course: cx.link.course_id,
                user: g.user,
                role: settings.role_id,
                start: time_start(g.enrolment, loaded.zone),
            })
            .collect();
        let outcomes = lms.enrol(&wanted).await;
        let invite = CourseInvite {
            site_url: lms.site_url(),
            course_name: &loaded.offering.name,
        };
        let mut transfers = Vec::new();
        let mut lines = Vec::new();
        let mut emails: Vec<(Email, &Learner)> = Vec::new();
        for (g, outcome) in going.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    done.report.enrolled += 1;
                    lines.push(line(LogLevel::Info, messages::enrolled(g.learner), now));
                    transfers.push(transfer_record(
                        tenant,
                        connection,
                        loaded,
                        g.enrolment,
                        TransferStatus::Transferred,
                        Some(g.user),
                        now,
                    ));
                    if let Some(email) = email_for(g, settings, &invite) {
                        emails.push((email, g.learner));
                    }
                }
                Err(RecordFailure::Refused(reason)) => {
                    done.blocked.push((g.enrolment.clone(), vec![reason]))
                }
                Err(RecordFailure::Failed(err)) => {
                    done.transient.get_or_insert(err);
                }
            }
        }
        self.links.save_transfers(&transfers).await?;
        self.record(
            tenant,
            connection,
            run,
            &lines,
            &[(counts::ENROLLED, count(transfers.len()))],
        )
        .await?;
        self.send_all(&emails, &mut done.log, &mut done.report, now)
            .await;
        Ok(())
    }
}

/// The email a learner just enrolled gets, if any: a new user's registration
/// (with the password when the connection generates them), else the
/// enrolment's.
fn email_for(g: &Going<'_>, settings: &MoodleSettings, invite: &CourseInvite<'_>) -> Option<Email> {
    if g.created {
        messages::registration_email(
            g.learner,
            g.username.as_deref().unwrap_or_default(),
            g.password
                .as_ref()
                .filter(|_| settings.new_user_auth == NewUserAuth::GeneratedPassword),
            invite,
        )
    } else {
        messages::enrolment_email(g.learner, invite)
    }
}
