-- The source contract's view of the PMS's properties (DESIGN.md section 2,
-- issue 17 item 6): one row per property, whether the hotel allows its
-- guests' data to be exported. At the start of each run a live connection
-- whose property says no is stopped, and one whose property is gone is
-- handled by the job's on_removed (keep | deactivate). An operator with
-- another PMS creates a view of the same shape over their own tables.
-- `guestflow db migrate` installs this one over pms.properties when the
-- view is missing and pms.properties has export_allowed.
CREATE OR REPLACE VIEW guestflow.source_properties AS
SELECT p.id              AS property_id,
       p.name            AS name,
       p.export_allowed  AS export_allowed
  FROM pms.properties p;
