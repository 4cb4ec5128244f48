//! The scenario format. (in progress)
