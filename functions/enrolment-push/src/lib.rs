//! enrolment-push
