//! What the controllers know of the cluster beyond their own watched kind: the objects of each
//! application, looked up by application (`index`), and the status writes the application cache
//! has not caught up with yet (`status_writes`).

pub mod index;
pub mod status_writes;
