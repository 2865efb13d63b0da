/* The MHD access handler: routing, the request's life across MHD's calls,
 * applying the fault it drew, logging, and putting the reply on the wire. */
#ifndef DALLE_MOCK_ROUTES_H
#define DALLE_MOCK_ROUTES_H

#include <microhttpd.h>

enum MHD_Result routes_access(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **request_state);

void routes_completed(void *cls, struct MHD_Connection *connection, void **request_state,
                      enum MHD_RequestTerminationCode reason);

#endif
