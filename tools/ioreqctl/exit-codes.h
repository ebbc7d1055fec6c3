/*
 * ioreqctl's exit statuses, a contract with the scripts that run it
 * (man/ioreqctl.1, EXIT STATUS): never renumber them.
 */
#ifndef IOREQCTL_EXIT_CODES_H
#define IOREQCTL_EXIT_CODES_H

enum ioreqctl_exit {
	IOREQCTL_OK = 0,
	IOREQCTL_ERROR_REPLY = 1, /* the daemon answered with an error */
	IOREQCTL_USAGE = 2,	  /* bad command line */
	IOREQCTL_NO_DAEMON = 3,	  /* nothing listens at the socket path */
	IOREQCTL_PERMISSION = 4,  /* EACCES, or a PermissionDenied error */
	IOREQCTL_PROTOCOL = 5, /* bad greeting or reply, early close, timeout */
};

#endif
