-- Up Migration

-- What WebDAV keeps beyond files (DavStateService), per user and by path in file
-- names' form ("" is the root). Paths compare byte-wise like file names.

-- Folders made with MKCOL: a folder is every prefix of a file name, and these rows
-- keep the ones without files.
CREATE TABLE dav_folders (
  owner      text NOT NULL,
  path       text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner, path)
);

-- Dead properties (PROPPATCH): the element as the client sent it.
CREATE TABLE dav_properties (
  owner     text NOT NULL,
  path      text COLLATE "C" NOT NULL,
  namespace text NOT NULL,
  name      text NOT NULL,
  xml       text NOT NULL,
  PRIMARY KEY (owner, path, namespace, name)
);

-- Locks (LOCK/UNLOCK) with their timeout; expired rows are ignored and removed as met.
CREATE TABLE dav_locks (
  token      text PRIMARY KEY,
  owner      text NOT NULL,
  path       text COLLATE "C" NOT NULL,
  infinite   boolean NOT NULL,
  exclusive  boolean NOT NULL,
  owner_xml  text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX dav_locks_owner_path ON dav_locks (owner, path);
