-- Demo bookings for the reference PMS schema: a few hundred bookings over ten
-- properties, with every reason a guest is or is not sent, and messy data.
-- Deterministic (setseed), loaded once into an empty pms schema.
SELECT setseed(0.42);

INSERT INTO pms.properties (id, name)
SELECT 'P' || lpad(i::text, 3, '0'), (ARRAY['Seehotel', 'Alpenhof', 'Stadthotel', 'Parkhotel', 'Hotel am Markt',
        'Strandhaus', 'Berggasthof', 'Hotel Post', 'Landgut', 'Hafenhotel'])[i]
  FROM generate_series(1, 10) AS i;

CREATE TEMP TABLE demo_names (last_name text, first_name text, gender text, language text);
INSERT INTO demo_names VALUES
    ('Müller', 'Anna', 'f', 'de-DE'), ('Schmidt', 'Jürgen', 'Herr', 'DEU'),
    ('O''Brien', 'Siobhán', 'Mrs', 'en_IE'), ('Smith & Sons', 'John', 'M', 'English'),
    ('Dupont', 'Éléonore', 'Mme', 'fr'), ('Rossi', 'Giulia', 'F', 'ita'),
    ('García Márquez', 'José', 'm', 'es-ES'), ('Nowak', 'Zofia', 'K', 'pl'),
    ('van der Berg', 'Daan', 'x', 'nl-NL'), ('Øster', 'Åse', 'W', 'nb'),
    ('  Weber  ', '  Lena ', 'Frau', 'Deutsch'), ('<Tag>', 'Quote"d', 'd', 'German'),
    ('Ångström', 'Örjan', 'male', 'sv'), ('Nakamura', '陽翔', 'M', 'ja'),
    ('عبد الله', 'محمد', 'm', 'ar'), ('Kowalski 🌊', 'Piotr', '', 'xx'),
    ('Papadopoulos', '', 'Mr', NULL), ('Çelik', 'Ayşe', 'f', 'tr-TR'),
    ('Novák', 'Tomáš', 'M', 'cze'), ('Smith', NULL, NULL, 'EN');

-- Eligible: checked out in the last 14 days, e-mail, name, notify on.
-- The other kinds: no e-mail, bad e-mail, notify off, not checked out,
-- checked out too long ago, blank last name, data the partner format cannot take.
CREATE TEMP TABLE demo_kinds AS
SELECT n, CASE
        WHEN n % 20 = 1 THEN 'no_email'
        WHEN n % 20 = 2 THEN 'bad_email'
        WHEN n % 20 = 3 THEN 'notify_off'
        WHEN n % 20 = 4 THEN 'in_house'
        WHEN n % 20 = 5 THEN 'confirmed'
        WHEN n % 20 = 6 THEN 'cancelled'
        WHEN n % 20 = 7 THEN 'too_old'
        WHEN n % 40 = 8 THEN 'blank_name'
        WHEN n % 80 = 13 THEN 'control_char'
        WHEN n % 80 = 53 THEN 'dates_swapped'
        ELSE 'eligible' END AS kind
  FROM generate_series(1, 400) AS n;

INSERT INTO pms.guests (id, first_name, last_name, email, gender, language)
SELECT k.n,
       CASE WHEN k.kind = 'control_char' THEN 'Bell' || chr(7) ELSE d.first_name END,
       CASE WHEN k.kind = 'blank_name' THEN '   ' ELSE d.last_name END,
       CASE k.kind WHEN 'no_email' THEN (CASE WHEN k.n % 3 = 0 THEN '' ELSE NULL END)
                   WHEN 'bad_email' THEN (ARRAY['guest.example.org', 'two@@example.org', 'with space@example.org'])[1 + k.n % 3]
                   ELSE (CASE WHEN k.n % 7 = 0 THEN ' Guest' || k.n || '+review@Example.org ' ELSE 'guest' || k.n || '@example.org' END) END,
       d.gender, d.language
  FROM demo_kinds k
  JOIN (SELECT row_number() OVER () - 1 AS i, * FROM demo_names) d ON d.i = k.n % 20;
SELECT setval(pg_get_serial_sequence('pms.guests', 'id'), (SELECT max(id) FROM pms.guests));

INSERT INTO pms.bookings (property_id, booking_no, guest_id, status, arrival, departure,
                          checked_out_at, notify_on_occupancy)
SELECT 'P' || lpad((1 + k.n % 10)::text, 3, '0'),
       'B-' || lpad(k.n::text, 6, '0'),
       k.n,
       CASE k.kind WHEN 'in_house' THEN 'in_house' WHEN 'confirmed' THEN 'confirmed'
                   WHEN 'cancelled' THEN 'cancelled' ELSE 'checked_out' END,
       dep - nights + CASE WHEN k.kind = 'dates_swapped' THEN 10 ELSE 0 END,
       dep,
       CASE WHEN k.kind IN ('in_house', 'confirmed', 'cancelled') THEN NULL
            WHEN k.kind = 'too_old' THEN now() - interval '30 days'
            ELSE dep + time '11:00' END,
       k.kind <> 'notify_off'
  FROM demo_kinds k,
       LATERAL (SELECT (current_date - (1 + k.n % 12))::date AS dep, (1 + k.n % 5) AS nights) t;
