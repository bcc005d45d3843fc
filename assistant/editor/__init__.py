"""Content editor workflow: drafts, review, versioned publishing with hot reload, inbox, legal currency.

Modules: ``auth`` (roles and bearer tokens), ``entry_io`` (entry validation and YAML files),
``tables``/``editor_store`` (drafts, audit, tokens, handled inbox items in the database),
``versions`` (immutable corpus snapshots, the publish journal), ``locking`` (the publish lock),
``build_worker`` (the index build in a child process), ``publishing`` (publish and rollback),
``hot_reload`` (every process follows ``data/index/CURRENT``), ``inbox`` (unanswered questions),
``currency`` (citations of replaced law), ``service`` (what the API and the CLI share), ``api`` and
``api_publishing`` (the ``/api/v1/kb`` routes), ``wiring`` (hooks into the app), ``ui/`` (``/editor``).
Nothing heavy is imported here.
"""
