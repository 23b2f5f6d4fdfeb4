//! Runs RUN steps in isolated Linux namespaces on overlay snapshots.
